<?php

namespace Pfpm\Laravel;

/**
 * Reads and writes non-public properties of framework objects that have no
 * setter (for example the container an event dispatcher resolves listeners
 * with).  Missing properties are ignored, so that a cleaner keeps working on
 * framework versions that renamed them.
 */
final class Props
{
    public static function get(object $object, string $property, $default = null)
    {
        return (function () use ($property, $default) {
            return property_exists($this, $property) ? $this->{$property} : $default;
        })->call($object);
    }

    public static function set(object $object, string $property, $value): bool
    {
        return (function () use ($property, $value) {
            if (!property_exists($this, $property)) {
                return false;
            }
            $this->{$property} = $value;
            return true;
        })->call($object);
    }

    /** Static property of a class (including protected/private ones). */
    public static function getStatic(string $class, string $property, $default = null)
    {
        return \Closure::bind(static function () use ($property, $default) {
            return property_exists(static::class, $property) ? static::${$property} : $default;
        }, null, $class)();
    }

    public static function setStatic(string $class, string $property, $value): void
    {
        \Closure::bind(static function () use ($property, $value) {
            if (property_exists(static::class, $property)) {
                static::${$property} = $value;
            }
        }, null, $class)();
    }

    private function __construct()
    {
    }
}
