<?php

namespace Pfpm;

/**
 * A listener of Pfpm\Event events, run in a task worker.
 *
 *     final class NotifyCustomer extends \Pfpm\Listener
 *     {
 *         private $mailer;
 *
 *         public function __construct(Mailer $mailer)   // from the container
 *         {
 *             $this->mailer = $mailer;
 *         }
 *
 *         public function handle(Event $event)
 *         {
 *             ...
 *             return false;       // optional: the next listeners do not run
 *         }
 *     }
 *
 * Listeners are listed per event class in config/pfpm.php 'events'.  Each
 * run of an event creates its listeners anew from the container of the
 * task's sandbox.
 */
abstract class Listener
{
    /**
     * @return mixed false stops the propagation to the next listeners
     */
    abstract public function handle(Event $event);
}
