<?php

namespace Pfpm;

use Pfpm\Laravel\EventTask;

/**
 * An event whose listeners run in a task worker, after the current request.
 *
 *     final class OrderShipped extends \Pfpm\Event
 *     {
 *         public $orderId;
 *
 *         public function __construct(int $orderId)
 *         {
 *             $this->orderId = $orderId;
 *         }
 *     }
 *
 *     \Pfpm\Event::fire(new OrderShipped(42));
 *
 * config/pfpm.php maps events to their listeners (Pfpm\Listener
 * subclasses), run in that order:
 *
 *     'events' => [
 *         App\Events\OrderShipped::class => [
 *             App\Listeners\NotifyCustomer::class,
 *             App\Listeners\UpdateStock::class,
 *         ],
 *     ],
 *
 * fire() delivers ONE task (Pfpm\Laravel\EventTask) carrying the event:
 * the event is serialised like a task (serialisable properties only).  The
 * task worker resolves each listener from the container and calls
 * handle($event); a listener that returns false stops the propagation.  An
 * exception fails the task, which runs the listeners again from the first
 * when the event was fired with tries > 1 (see fire()).
 */
abstract class Event
{
    /**
     * Deliver the event to the task workers.  $tries, $delay (seconds)
     * and $queue are the options of the task that carries it.
     *
     * @return string|false the task id, or false (pfpm logged why)
     */
    public static function fire(Event $event, int $tries = 1, int|float $delay = 0, ?string $queue = null)
    {
        $task = new EventTask($event);
        if ($tries !== 1) {
            $task->tries($tries);
        }
        if ($delay > 0) {
            $task->delay($delay);
        }
        if ($queue !== null) {
            $task->onQueue($queue);
        }
        return Task::deliver($task);
    }
}
