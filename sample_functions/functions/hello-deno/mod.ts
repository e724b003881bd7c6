interface Greeting {
  name?: string;
}

/** Greets the `name` sent in the JSON payload (a default export, as Appwrite 1.3 calls it). */
export default async function (req: any, res: any): Promise<void> {
  let payload: Greeting;
  try {
    payload = JSON.parse(req.payload || '{}');
  } catch (_err) {
    return res.json({ error: 'The payload must be JSON, like {"name": "Ada"}' }, 400);
  }
  res.json({ message: `Hello, ${payload.name ?? 'World'}!`, runtime: 'deno' });
}
