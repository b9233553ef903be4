probe={{ $probe ?? 'none' }}
app_is_current={{ isset($app) && $app === app() ? 'yes' : 'no' }}
