<?php

namespace App\Providers;

use App\Listeners\RecordPfpmEvent;
use Illuminate\Foundation\Support\Providers\EventServiceProvider as ServiceProvider;

class EventServiceProvider extends ServiceProvider
{
    /**
     * pfpm's worker dispatches these string events on every request (worker
     * mode only; under php-fpm they never fire).
     *
     * @var array<string, array<int, class-string>>
     */
    protected $listen = [
        'pfpm.received_request' => [
            RecordPfpmEvent::class,
        ],
        'pfpm.generated_response' => [
            RecordPfpmEvent::class,
        ],
    ];

    /**
     * @return void
     */
    public function boot()
    {
        //
    }
}
