<?php
// Greets the `name` sent in the JSON payload. The file returns the function Appwrite 1.3 calls.
return function ($req, $res) {
    $payload = json_decode($req['payload'] ?: '{}', true);
    if (!is_array($payload)) {
        return $res->json(['error' => 'The payload must be JSON, like {"name": "Ada"}'], 400);
    }
    $name = $payload['name'] ?? 'World';
    $res->json(['message' => "Hello, $name!", 'runtime' => 'php']);
};
