<?php

namespace App\Listeners;

use App\Support\TestRecorder;
use Pfpm\Event;
use Pfpm\Listener;
use Pfpm\Task;

/**
 * First listener of App\Events\RecordEvent: records "event1:<name>" and
 * stops the propagation (returns false) when the name is "stop".
 */
class RecordFirstListener extends Listener
{
    public function handle(Event $event)
    {
        TestRecorder::record('event1:' . $event->name, app(Task::class)->attempt());

        return $event->name === 'stop' ? false : null;
    }
}
