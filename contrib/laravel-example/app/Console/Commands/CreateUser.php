<?php

namespace App\Console\Commands;

use App\Models\User;
use Illuminate\Console\Command;
use Illuminate\Support\Facades\Hash;

class CreateUser extends Command
{
    protected $signature = 'app:user {name} {email} {password}';

    protected $description = 'Create (or update) a user that can log in';

    public function handle()
    {
        $user = User::updateOrCreate(
            ['email' => $this->argument('email')],
            ['name' => $this->argument('name'), 'password' => Hash::make($this->argument('password'))]
        );

        $this->info("user #{$user->id} {$user->email}");

        return 0;
    }
}
