<?php

namespace Database\Seeders;

use App\Models\User;
use Illuminate\Database\Seeder;
use Illuminate\Support\Facades\Hash;

class DatabaseSeeder extends Seeder
{
    /**
     * Users for the example (and the test suite): password "secret".
     */
    public function run()
    {
        foreach (['alice', 'bob', 'carol'] as $name) {
            User::updateOrCreate(
                ['email' => "{$name}@example.com"],
                ['name' => ucfirst($name), 'password' => Hash::make('secret')]
            );
        }
    }
}
