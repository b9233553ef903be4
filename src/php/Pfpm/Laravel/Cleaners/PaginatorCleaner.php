<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Illuminate\Pagination\PaginationState;
use Illuminate\Pagination\Paginator;
use Pfpm\Laravel\Cleaner;

/**
 * The paginator finds the current page, path and query string through
 * static resolvers that PaginationServiceProvider bound to the booted
 * application (whose request is the boot-time one): bind them to the
 * sandbox, whose request is the current one.
 */
final class PaginatorCleaner implements Cleaner
{
    public function clean(Application $sandbox, Application $base): void
    {
        if (class_exists(PaginationState::class)) {
            PaginationState::resolveUsing($sandbox);
            return;
        }
        Paginator::viewFactoryResolver(function () use ($sandbox) {
            return $sandbox['view'];
        });
        Paginator::currentPathResolver(function () use ($sandbox) {
            return $sandbox['request']->url();
        });
        Paginator::currentPageResolver(function ($pageName = 'page') use ($sandbox) {
            $page = $sandbox['request']->input($pageName);
            if (filter_var($page, FILTER_VALIDATE_INT) !== false && (int) $page >= 1) {
                return (int) $page;
            }
            return 1;
        });
    }
}
