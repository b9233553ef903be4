<?php

namespace App\Http\Controllers;

use Illuminate\Http\Request;
use Illuminate\Support\Facades\Auth;
use Illuminate\Support\Facades\Gate;

class AuthController extends Controller
{
    public function form()
    {
        return view('login');
    }

    public function login(Request $request)
    {
        $credentials = $request->validate([
            'email' => 'required|email',
            'password' => 'required',
        ]);

        if (! Auth::attempt($credentials)) {
            return response()->json(['error' => 'invalid credentials'], 422);
        }

        $request->session()->regenerate();

        return response()->json(['user' => Auth::user()->email, 'pid' => getmypid()]);
    }

    public function logout(Request $request)
    {
        Auth::logout();
        $request->session()->invalidate();
        $request->session()->regenerateToken();

        return response()->json(['user' => null]);
    }

    public function whoami(Request $request)
    {
        $user = $request->user();

        return response()->json([
            'user' => $user ? $user->email : null,
            'auth_user' => Auth::check() ? Auth::user()->email : null,
            'admin' => Gate::allows('admin'),
            'pid' => getmypid(),
        ]);
    }
}
