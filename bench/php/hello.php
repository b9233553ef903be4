<?php
echo "Hello";
