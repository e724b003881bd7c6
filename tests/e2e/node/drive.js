// Drives the emulator with node-appwrite@9.0.0 the way a user's script would, then prints what it saw
// as one JSON object for the Python test to check. Usage: node drive.js ENDPOINT PROJECT KEY ARCHIVE
const sdk = require('node-appwrite');

const [endpoint, project, key, archive] = process.argv.slice(2);
const client = new sdk.Client().setEndpoint(endpoint).setProject(project).setKey(key);
const functions = new sdk.Functions(client);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(probe, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (result) return result;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}

async function main() {
  const fn = await functions.create(sdk.ID.unique(), 'From Node', 'node-18.0', ['any'], [], '', 10);
  await functions.createVariable(fn.$id, 'CUSTOM_VARIABLE', 'node-variable');
  const upload = await functions.createDeployment(
    fn.$id, 'index.js', sdk.InputFile.fromPath(archive, 'code.tar.gz'), true,
  );
  const deployment = await waitFor(async () => {
    const d = await functions.getDeployment(fn.$id, upload.$id);
    return d.status === 'ready' || d.status === 'failed' ? d : null;
  });
  await waitFor(async () => (await functions.get(fn.$id)).deployment === upload.$id);
  const execution = await functions.createExecution(fn.$id, 'hello from node', false);
  const queued = await functions.createExecution(fn.$id, 'queued', true);
  const finished = await waitFor(async () => {
    const e = await functions.getExecution(fn.$id, queued.$id);
    return e.status === 'completed' || e.status === 'failed' ? e : null;
  });
  const listed = await functions.list([sdk.Query.equal('runtime', 'node-18.0')]);
  let missing = null;
  try {
    await functions.get('does-not-exist');
  } catch (error) {
    missing = { code: error.code, type: error.type, message: error.message };
  }
  console.log(JSON.stringify({ fn, upload, deployment, execution, queued, finished, listed, missing }));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
