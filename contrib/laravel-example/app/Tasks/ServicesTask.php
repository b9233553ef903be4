<?php

namespace App\Tasks;

use App\Support\TestRecorder;
use Illuminate\Support\Facades\DB;
use Pfpm\Task;

/**
 * A task that uses the application's services (GET /tasks/services): it
 * records "services:<config app.name>:<users in the database>:<an injected
 * service's class>", so the tests see the booted application in the task
 * worker.
 */
class ServicesTask extends Task
{
    public function handle(\Illuminate\Contracts\Config\Repository $config): void
    {
        TestRecorder::record(sprintf('services:%s:%d:%s', $config->get('app.name'),
            DB::table('users')->count(), get_class($config)), $this->attempt());
    }
}
