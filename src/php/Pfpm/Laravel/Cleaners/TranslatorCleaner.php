<?php

namespace Pfpm\Laravel\Cleaners;

use Carbon\Carbon;
use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;

/**
 * App::setLocale() changes the shared translator (and Carbon's locale):
 * back to the configured locale and fallback for each request.
 */
final class TranslatorCleaner implements Cleaner
{
    /** @var string|null */
    private $carbonLocale;

    public function clean(Application $sandbox, Application $base): void
    {
        $config = $base->make('config');
        $locale = $config->get('app.locale');

        if ($base->resolved('translator')) {
            $translator = $sandbox->make('translator');
            if ($translator->getLocale() !== $locale) {
                $translator->setLocale($locale);
            }
            if (method_exists($translator, 'setFallback')) {
                $translator->setFallback($config->get('app.fallback_locale'));
            }
        }

        if (class_exists(Carbon::class, false)) {
            if ($this->carbonLocale === null) {
                $this->carbonLocale = Carbon::getLocale();
            }
            if (Carbon::getLocale() !== $this->carbonLocale) {
                Carbon::setLocale($this->carbonLocale);
            }
        }
    }
}
