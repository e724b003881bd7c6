/**
 * Triggered by the event functions.*.deployments.*.create: notes every new deployment.
 */
module.exports = async function (req, res) {
  const event = req.variables['APPWRITE_FUNCTION_EVENT'] || '';
  const data = JSON.parse(req.variables['APPWRITE_FUNCTION_EVENT_DATA'] || '{}');
  const [, functionId, , deploymentId] = event.split('.');
  console.log(`New deployment ${deploymentId} of function ${functionId}`);
  res.json({
    event,
    functionId: functionId || null,
    deploymentId: deploymentId || null,
    entrypoint: data.entrypoint || null,
  });
};
