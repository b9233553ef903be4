<?php

namespace App\Listeners;

use App\Support\TestRecorder;
use Pfpm\Event;
use Pfpm\Listener;
use Pfpm\Task;

/**
 * Second listener of App\Events\RecordEvent: records "event2:<name>".
 */
class RecordSecondListener extends Listener
{
    public function handle(Event $event)
    {
        TestRecorder::record('event2:' . $event->name, app(Task::class)->attempt());
    }
}
