<?php

namespace App\Console\Commands;

use App\Support\TestRecorder;
use Illuminate\Console\Command;

/**
 * Records a row in PFPM_TEST_DB (task = the argument, default
 * "scheduled"): app/Console/Kernel.php schedules it every minute when
 * PFPM_TEST_DB is set, so the tests see the scheduler of pfpm's timer run.
 */
class MarkCommand extends Command
{
    protected $signature = 'pfpm:mark {task=scheduled}';

    protected $description = 'Record a row in the PFPM_TEST_DB database (integration tests)';

    public function handle()
    {
        if (! TestRecorder::record((string) $this->argument('task'))) {
            $this->warn('PFPM_TEST_DB is not set: nothing recorded');
        }

        return 0;
    }
}
