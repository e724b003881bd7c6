require 'json'

# Greets the `name` sent in the JSON payload. What `main` returns is the response.
def main(req, res)
  payload = JSON.parse(req.payload.empty? ? '{}' : req.payload)
  res.json({ 'message' => "Hello, #{payload['name'] || 'World'}!", 'runtime' => 'ruby' })
rescue JSON::ParserError
  res.json({ 'error' => 'The payload must be JSON, like {"name": "Ada"}' })
end
