<?php

namespace Pfpm;

use ErrorException;
use InvalidArgumentException;
use LogicException;
use Throwable;

/**
 * A unit of work run later by one of the pool's task workers.
 *
 *     final class SendInvoice extends \Pfpm\Task
 *     {
 *         private $invoiceId;
 *
 *         public function __construct(int $invoiceId)
 *         {
 *             $this->invoiceId = $invoiceId;
 *         }
 *
 *         public function handle(Mailer $mailer): void      // method injection
 *         {
 *             ...
 *         }
 *
 *         public function finish(): void                   // optional
 *         {
 *         }
 *     }
 *
 *     $id = \Pfpm\Task::deliver((new SendInvoice(42))->delay(30)->tries(3));
 *
 * The task travels as serialize($task): its properties must be
 * serialisable (scalars, arrays, plain objects; no closures, resources,
 * PDO connections or the container).  Keep them small — ids rather than
 * models (or use Illuminate\Queue\SerializesModels, which stores model ids
 * and reloads the models in the task worker).  The task worker finds the
 * class through the application's autoloader, so deploy the class before
 * delivering it.
 *
 * handle() runs in a task worker, in a sandbox of the booted application
 * (the request cleaners run first, as for a request), with its parameters
 * resolved from the container ($app->call()).  finish(), when the class has
 * one, runs after handle() returned, in the same sandbox.  An exception
 * fails the attempt: pfpm tries again after a back-off while attempts <
 * tries, then keeps the task as a dead letter (`pfpm task list POOL`).
 * Delivery is at least once: a task whose worker died is run again, so
 * make handle() idempotent.
 */
abstract class Task
{
    /** @var int|null delay in milliseconds */
    private $pfpmDelayMs;

    /** @var int|null */
    private $pfpmTries;

    /** @var string|null */
    private $pfpmQueue;

    /** @var array|null meta of the current attempt (task worker only) */
    private $pfpmMeta;

    /**
     * Run the task later: $seconds from now (fractions allowed, down to a
     * millisecond).
     *
     * @return $this
     */
    public function delay(int|float $seconds): static
    {
        if (!is_finite((float) $seconds) || $seconds < 0) {
            throw new InvalidArgumentException('Pfpm\Task::delay(): seconds must be >= 0');
        }
        $this->pfpmDelayMs = (int) round($seconds * 1000);
        return $this;
    }

    /**
     * How many times pfpm runs the task before keeping it as a dead letter
     * (default 1: no retry).
     *
     * @return $this
     */
    public function tries(int $tries): static
    {
        if ($tries < 1) {
            throw new InvalidArgumentException('Pfpm\Task::tries(): tries must be >= 1');
        }
        $this->pfpmTries = $tries;
        return $this;
    }

    /**
     * The queue name stored with the task (default "default"; at most 64
     * bytes).  It is shown by `pfpm task list` and passed to the task.
     *
     * @return $this
     */
    public function onQueue(string $queue): static
    {
        if ($queue === '' || strlen($queue) > 64) {
            throw new InvalidArgumentException('Pfpm\Task::onQueue(): the queue name must have 1 to 64 bytes');
        }
        $this->pfpmQueue = $queue;
        return $this;
    }

    /**
     * The options pfpm_task_deliver() gets for this task.
     *
     * @return array{delay_ms?: int, tries?: int, queue?: string}
     */
    public function deliveryOptions(): array
    {
        $options = [];
        if ($this->pfpmDelayMs !== null) {
            $options['delay_ms'] = $this->pfpmDelayMs;
        }
        if ($this->pfpmTries !== null) {
            $options['tries'] = $this->pfpmTries;
        }
        if ($this->pfpmQueue !== null) {
            $options['queue'] = $this->pfpmQueue;
        }
        return $options;
    }

    /**
     * Hand the task to the pool's task queue.
     *
     * Returns the task id (32 hex digits), or false when pfpm refused it
     * (the pool has no task workers, the queue is full, the payload is too
     * large, the master is unreachable: pfpm logged why) or when not
     * running under pfpm.  A returned id means the task was written to the
     * master; pfpm makes it durable before the current request's response
     * is finished.
     *
     * @return string|false
     */
    public static function deliver(Task $task)
    {
        if (!function_exists('pfpm_task_deliver')) {
            error_log('pfpm: ' . get_class($task) . ' not delivered: tasks need pfpm (pfpm_task_deliver() does not exist here)');
            return false;
        }
        // The meta of a running attempt is not part of the task.
        $meta = $task->pfpmMeta;
        $task->pfpmMeta = null;
        try {
            $payload = serialize($task);
        } catch (Throwable $e) {
            throw new LogicException('pfpm: ' . get_class($task) . ' cannot be serialised: ' . $e->getMessage(), 0, $e);
        } finally {
            $task->pfpmMeta = $meta;
        }
        try {
            return pfpm_task_deliver($payload, $task->deliveryOptions());
        } catch (ErrorException $e) {
            // pfpm warns (E_WARNING) once per process when the pool has no
            // task queue; Laravel's error handler turns warnings into
            // exceptions, but a refused task is a false, not an error.
            if (strncmp($e->getMessage(), 'pfpm_task_deliver()', 19) !== 0) {
                throw $e;
            }
            error_log('pfpm: ' . get_class($task) . ' not delivered: ' . $e->getMessage());
            return false;
        }
    }

    /**
     * Meta of the attempt that is running (in the task worker): id,
     * attempt, tries, queue, created.  Empty before delivery.
     */
    public function meta(): array
    {
        return $this->pfpmMeta ?? [];
    }

    /** The task id, or null outside a task worker. */
    public function taskId(): ?string
    {
        return isset($this->pfpmMeta['id']) ? (string) $this->pfpmMeta['id'] : null;
    }

    /** The attempt that is running: 1 for the first run (0 outside a task worker). */
    public function attempt(): int
    {
        return (int) ($this->pfpmMeta['attempt'] ?? 0);
    }

    /** How many attempts the task has in all (as delivered). */
    public function maxTries(): int
    {
        return (int) ($this->pfpmMeta['tries'] ?? $this->pfpmTries ?? 1);
    }

    /** The queue the task was delivered to. */
    public function queue(): string
    {
        return (string) ($this->pfpmMeta['queue'] ?? $this->pfpmQueue ?? 'default');
    }

    /** When the task was delivered (unix time, seconds), or null. */
    public function createdAt(): ?float
    {
        return isset($this->pfpmMeta['created']) ? (float) $this->pfpmMeta['created'] : null;
    }

    /** Is this the last attempt pfpm will make? */
    public function isLastAttempt(): bool
    {
        return $this->attempt() >= $this->maxTries();
    }

    /**
     * @internal set by Pfpm\Laravel\TaskRunner before handle()
     */
    public function setMeta(array $meta): void
    {
        $this->pfpmMeta = $meta;
    }
}
