<?php

namespace Pfpm\Laravel;

use Illuminate\Foundation\Application;
use Pfpm\Task;
use Throwable;
use UnexpectedValueException;

/**
 * Runs the tasks of a task worker: the pfpm_task_wait() handler.
 *
 *     $runner = new TaskRunner($worker);
 *     while (pfpm_task_wait([$runner, 'handle'])) {
 *     }
 *
 * Each task runs in a sandbox of the booted application, as a request does
 * (Worker::sandboxed(): clone, cleaners, pfpm.flush, pfpm.providers), so a
 * task leaves nothing behind for the next one.  The payload is unserialised
 * inside the sandbox (a task's __unserialize()/__wakeup(), e.g.
 * SerializesModels reloading its models, sees the sandbox), then
 * $app->call([$task, 'handle']) and, when the task has one,
 * $app->call([$task, 'finish']).  The sandbox binds the running task as
 * Pfpm\Task (app(\Pfpm\Task::class)->attempt() from a listener).
 *
 * Returning acknowledges the task.  An exception is reported through the
 * application's exception handler and rethrown: pfpm records the failure
 * and retries the task (attempt < tries) or keeps it as a dead letter.
 */
final class TaskRunner
{
    /** @var Worker */
    private $worker;

    /** @var int tasks run by this process */
    private $tasks = 0;

    public function __construct(Worker $worker)
    {
        $this->worker = $worker;
    }

    public function tasksRun(): int
    {
        return $this->tasks;
    }

    /**
     * @param array $meta id, attempt, tries, queue, created
     */
    public function handle(string $payload, array $meta = []): void
    {
        $this->tasks++;
        $this->worker->sandboxed(function (Application $app) use ($payload, $meta): void {
            try {
                $task = self::unserialize($payload);
                $task->setMeta($meta);
                // The running task, for whoever it calls (listeners, services).
                $app->instance(Task::class, $task);
                $app->call([$task, 'handle']);
                if (method_exists($task, 'finish')) {
                    $app->call([$task, 'finish']);
                }
            } catch (Throwable $e) {
                $this->worker->report($e, $app);
                throw $e;
            }
        });
    }

    /**
     * The task in a payload made by Pfpm\Task::deliver().
     *
     * @throws UnexpectedValueException when it holds no Pfpm\Task
     */
    public static function unserialize(string $payload): Task
    {
        // @: a malformed payload raises a notice, which Laravel's error
        // handler would turn into an ErrorException with a vaguer message.
        $task = @unserialize($payload, ['allowed_classes' => true]);
        if ($task instanceof Task) {
            if (!method_exists($task, 'handle')) {
                throw new UnexpectedValueException('pfpm: task ' . get_class($task) . ' has no handle() method');
            }
            return $task;
        }
        if ($task instanceof \__PHP_Incomplete_Class) {
            $class = get_object_vars($task)['__PHP_Incomplete_Class_Name'] ?? '?';
            throw new UnexpectedValueException("pfpm: task class {$class} not found (is it deployed, and autoloadable, in the task workers' application?)");
        }
        if ($task === false && $payload !== serialize(false)) {
            throw new UnexpectedValueException('pfpm: the task payload cannot be unserialised (' . strlen($payload) . ' bytes, not made by Pfpm\Task::deliver()?)');
        }
        throw new UnexpectedValueException('pfpm: the task payload holds ' . get_debug_type($task) . ', not a ' . Task::class);
    }
}
