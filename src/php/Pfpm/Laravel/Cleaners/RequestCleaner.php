<?php

namespace Pfpm\Laravel\Cleaners;

use Illuminate\Foundation\Application;
use Pfpm\Laravel\Cleaner;
use Pfpm\Laravel\Props;
use Symfony\Component\HttpFoundation\Request as SymfonyRequest;

/**
 * The URL generator, the redirector and Symfony's request statics serve
 * the current request only:
 *  - the URL generator gets the request (url()->current(), route(),
 *    asset(), redirect()->back()) and loses what URL::forceRootUrl(),
 *    URL::forceScheme(), URL::formatHostUsing()/formatPathUsing() and
 *    URL::defaults() set during an earlier request (back to the booted
 *    values);
 *  - the redirector uses the URL generator and the session of the sandbox;
 *  - Request::setTrustedProxies()/setTrustedHosts() (a TrustProxies
 *    middleware) are back to their booted values.
 */
final class RequestCleaner implements Cleaner
{
    private const URL_PROPS = ['forcedRoot', 'forceScheme', 'formatHostUsing', 'formatPathUsing'];

    /** @var array|null booted URL generator state */
    private $url;

    /** @var array|null booted Symfony request statics */
    private $symfony;

    public function clean(Application $sandbox, Application $base): void
    {
        $request = $sandbox->make('request');

        if ($base->resolved('url')) {
            $url = $sandbox->make('url');
            if ($this->url === null) {
                $this->url = [];
                foreach (self::URL_PROPS as $prop) {
                    $this->url[$prop] = Props::get($url, $prop);
                }
                $generator = Props::get($url, 'routeGenerator');
                $this->url['defaults'] = $generator !== null ? $generator->defaultParameters : [];
            }
            foreach (self::URL_PROPS as $prop) {
                Props::set($url, $prop, $this->url[$prop]);
            }
            // setRequest() keeps the route generator's defaults: drop them
            // first, then put back the booted ones.
            Props::set($url, 'routeGenerator', null);
            $url->setRequest($request);
            if ($this->url['defaults']) {
                $url->defaults($this->url['defaults']);
            }
        }

        if ($base->resolved('redirect')) {
            $redirect = $sandbox->make('redirect');
            if ($base->resolved('url')) {
                Props::set($redirect, 'generator', $sandbox->make('url'));
            }
            if ($base->resolved('session.store')) {
                $redirect->setSession($sandbox->make('session.store'));
            }
        }

        if ($this->symfony === null) {
            $this->symfony = [
                'proxies' => SymfonyRequest::getTrustedProxies(),
                'headers' => SymfonyRequest::getTrustedHeaderSet(),
                'hosts' => Props::getStatic(SymfonyRequest::class, 'trustedHostPatterns', []),
            ];
        }
        if (SymfonyRequest::getTrustedProxies() !== $this->symfony['proxies']
            || SymfonyRequest::getTrustedHeaderSet() !== $this->symfony['headers']) {
            SymfonyRequest::setTrustedProxies($this->symfony['proxies'], $this->symfony['headers']);
        }
        if (Props::getStatic(SymfonyRequest::class, 'trustedHostPatterns', []) !== $this->symfony['hosts']) {
            Props::setStatic(SymfonyRequest::class, 'trustedHostPatterns', $this->symfony['hosts']);
            Props::setStatic(SymfonyRequest::class, 'trustedHosts', []);
        }
    }
}
