<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;
use Symfony\Component\VarDumper\VarDumper;

/**
 * dump()/dd() build their dumper once per process, and an HTML dumper
 * prints its stylesheet and script only the first time: each request gets
 * a new dumper (writing to php://output, i.e. into this request's
 * response), so that every page with a dump carries what it needs to
 * display it.  A handler the application installed while booting
 * (VarDumper::setHandler()) is kept.
 */
final class DumperCleaner implements Cleaner
{
    /** @var bool */
    private $snapshot = false;

    /** @var callable|null */
    private $bootHandler;

    public function clean(Application $sandbox, Application $base): void
    {
        if (!class_exists(VarDumper::class)) {
            return;
        }
        if (!$this->snapshot) {
            $this->bootHandler = VarDumper::setHandler(null);
            $this->snapshot = true;
        }
        VarDumper::setHandler($this->bootHandler);
    }
}
