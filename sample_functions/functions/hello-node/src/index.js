/**
 * Greets the `name` sent in the JSON payload.
 */
module.exports = async function (req, res) {
  let payload;
  try {
    payload = JSON.parse(req.payload || '{}');
  } catch (err) {
    return res.json({ error: 'The payload must be JSON, like {"name": "Ada"}' }, 400);
  }
  const name = payload.name || 'World';
  res.json({ message: `Hello, ${name}!`, runtime: 'node' });
};
