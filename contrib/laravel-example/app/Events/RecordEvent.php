<?php

namespace App\Events;

use Pfpm\Event;

/**
 * Fired by GET /tasks/event?name=...; its listeners (config/pfpm.php
 * 'events') run in a task worker: App\Listeners\RecordFirstListener, then
 * App\Listeners\RecordSecondListener unless the first stopped it.
 */
class RecordEvent extends Event
{
    /** @var string */
    public $name;

    public function __construct(string $name)
    {
        $this->name = $name;
    }
}
