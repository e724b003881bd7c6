const { slugify } = require('text-kit');

/**
 * Turns the `title` of the JSON payload into a URL slug, with the text-kit dependency.
 */
module.exports = async function (req, res) {
  const payload = JSON.parse(req.payload || '{}');
  if (!payload.title) {
    return res.json({ error: 'Send a title, like {"title": "Hello World"}' }, 400);
  }
  res.json({ slug: slugify(payload.title) });
};
