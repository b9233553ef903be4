<?php

namespace App\Console;

use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Foundation\Console\Kernel as ConsoleKernel;

class Kernel extends ConsoleKernel
{
    /**
     * @param  \Illuminate\Console\Scheduling\Schedule  $schedule
     * @return void
     */
    protected function schedule(Schedule $schedule)
    {
        // For the integration tests: pfpm's timer process runs schedule:run
        // every minute (config/pfpm.php 'timer' => ['scheduler' => true]),
        // which runs `php artisan pfpm:mark` as a child process.
        if (env('PFPM_TEST_DB')) {
            $schedule->command('pfpm:mark scheduled')->everyMinute();
        }
    }

    /**
     * @return void
     */
    protected function commands()
    {
        $this->load(__DIR__.'/Commands');

        require base_path('routes/console.php');
    }
}
