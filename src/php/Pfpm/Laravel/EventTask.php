<?php

namespace Pfpm\Laravel;

use Illuminate\Foundation\Application;
use Pfpm\Event;
use Pfpm\Listener;
use Pfpm\Task;
use UnexpectedValueException;

/**
 * The task Pfpm\Event::fire() delivers: runs the event's listeners, in the
 * order config/pfpm.php 'events' lists them, until one returns false.
 *
 * Listeners of the event's class run first, then those listed for its
 * parent classes (Pfpm\Event itself: listeners of every event), then those
 * listed for the interfaces it implements; a listener listed twice runs
 * once.
 */
final class EventTask extends Task
{
    /** @var Event */
    private $event;

    public function __construct(Event $event)
    {
        $this->event = $event;
    }

    public function event(): Event
    {
        return $this->event;
    }

    public function handle(Application $app): void
    {
        $map = (array) $app->make('config')->get('pfpm.events', []);
        foreach (self::listeners($this->event, $map) as $class) {
            $listener = $app->make($class);
            if (!$listener instanceof Listener) {
                throw new UnexpectedValueException("pfpm: event listener {$class} does not extend " . Listener::class);
            }
            if ($listener->handle($this->event) === false) {
                break;
            }
        }
    }

    /**
     * The listener classes of an event, in the order they run.
     *
     * @param array<string, string[]> $map config/pfpm.php 'events'
     * @return string[]
     */
    public static function listeners(Event $event, array $map): array
    {
        $normalised = [];
        foreach ($map as $eventClass => $listeners) {
            $key = ltrim((string) $eventClass, '\\');
            foreach ((array) $listeners as $listener) {
                $normalised[$key][] = ltrim((string) $listener, '\\');
            }
        }

        $classes = array_merge([get_class($event)], array_values(class_parents($event)),
            array_values(class_implements($event)));
        $listeners = [];
        foreach ($classes as $class) {
            foreach ($normalised[$class] ?? [] as $listener) {
                $listeners[$listener] = true;
            }
        }
        return array_keys($listeners);
    }
}
