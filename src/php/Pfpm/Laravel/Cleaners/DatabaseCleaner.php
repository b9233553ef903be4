<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;
use Throwable;

/**
 * Database connections stay open between requests; what a request changes
 * on them does not stay:
 *  - a transaction left open (exit() or an error between beginTransaction()
 *    and commit()) is rolled back;
 *  - DB::enableQueryLog() is undone and the query log emptied (it would
 *    otherwise grow with every request): logging stays on only on the
 *    connections that had it on when the application booted;
 *  - the "records were modified" flag (sticky read/write connections) and
 *    the total query duration (DB::whenQueryingForLongerThan) start again;
 *  - the database manager builds new connections from the sandbox's
 *    configuration.
 */
final class DatabaseCleaner implements Cleaner
{
    /** @var array<string, bool>|null connection name => query log on, for
     *  the connections the booted application opened (others: off) */
    private $logging;

    public function clean(Application $sandbox, Application $base): void
    {
        if (!$base->resolved('db')) {
            return;
        }
        $db = $sandbox->make('db');
        if (method_exists($db, 'setApplication')) {
            $db->setApplication($sandbox);
        }

        if ($this->logging === null) {
            // First call: before the first request, i.e. the booted state.
            $this->logging = [];
            foreach ($db->getConnections() as $name => $connection) {
                $this->logging[$name] = $connection->logging();
            }
        }

        foreach ($db->getConnections() as $name => $connection) {
            try {
                if ($connection->transactionLevel() > 0) {
                    $connection->rollBack(0);
                }
            } catch (Throwable $e) {
                // A connection that cannot roll back is not reused.
                $db->purge($name);
                continue;
            }

            $connection->flushQueryLog();
            if ($this->logging[$name] ?? false) {
                $connection->enableQueryLog();
            } else {
                $connection->disableQueryLog();
            }

            if (method_exists($connection, 'forgetRecordModificationState')) {
                $connection->forgetRecordModificationState();
            }
            if (method_exists($connection, 'resetTotalQueryDuration')) {
                $connection->resetTotalQueryDuration();
            }
            if (method_exists($connection, 'allowQueryDurationHandlersToRunAgain')) {
                $connection->allowQueryDurationHandlersToRunAgain();
            }
        }
    }
}
