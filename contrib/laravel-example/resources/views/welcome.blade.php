@extends('layout')

@section('title', config('app.name'))

@section('content')
    <h1>{{ config('app.name') }}</h1>
    <p>{{ __('messages.greeting') }} Laravel {{ app()->version() }} on PHP {{ PHP_VERSION }} ({{ $sapi }}).</p>
    <p>Served by process <strong id="pid">{{ $pid }}</strong>.</p>
    @if ($worker && ($worker['mode'] ?? '') === 'worker')
        <p>pfpm worker mode: this process booted the application once and keeps it between requests.</p>
        <table id="worker">
            @foreach ($worker as $key => $value)
                <tr><th>{{ $key }}</th><td>{{ is_float($value) ? date('c', (int) $value) : $value }}</td></tr>
            @endforeach
        </table>
    @else
        <p>Classic mode: the application booted for this request only.</p>
    @endif
    <ul>
        <li><a href="{{ url('/api/hello') }}">/api/hello</a> (stateless JSON)</li>
        <li><a href="{{ url('/web/hello') }}">/web/hello</a> (session, cookies, CSRF token)</li>
        <li><a href="{{ url('/db/write') }}">/db/write</a> (inserts a row into SQLite)</li>
        <li><a href="{{ route('login.form') }}">/login</a> · <a href="{{ route('whoami') }}">/whoami</a></li>
    </ul>
@endsection
