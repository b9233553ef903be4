@extends('layout')

@section('title', 'Log in')

@section('content')
    <h1>Log in</h1>
    <form method="POST" action="{{ route('login') }}">
        @csrf
        <p><label>E-mail <input name="email" type="email" value="alice@example.com"></label></p>
        <p><label>Password <input name="password" type="password"></label></p>
        <p><button>Log in</button></p>
    </form>
    <p>Users created by setup.sh: alice@example.com / bob@example.com, password <code>secret</code>.</p>
@endsection
