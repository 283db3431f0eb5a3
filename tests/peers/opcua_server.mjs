// An independent OPC UA server (node-opcua) for the adapter tests.
// Usage: node opcua_server.mjs PORT PKI_DIR
// Variables ns=1;s=Temperature (Double, sine), ns=1;s=Counter (UInt32) and
// ns=1;s=Alarm (Boolean) change every 50 ms, and so does ns=1;s=Level, an
// AnalogItem (Double, 50 ± 20) with an EU range of 0..100 for percent deadbands. Endpoints: None and
// Basic256Sha256 Sign/SignAndEncrypt; anonymous, username (the one user
// "operator", password from OPCUA_PEER_PASSWORD) and X.509 user tokens
// (any certificate is accepted on first use).
// Prints "certificate <file>" and "listening <url>" once ready. SIGUSR1
// stalls the subscriptions (see below).
import { OPCUAServer } from "node-opcua-server";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { MessageSecurityMode, SecurityPolicy } from "node-opcua-secure-channel";
import { Variant, DataType } from "node-opcua-variant";

const [port, pki] = [parseInt(process.argv[2], 10), process.argv[3]];
const password = process.env.OPCUA_PEER_PASSWORD;
const server = new OPCUAServer({
  port,
  hostname: "127.0.0.1",
  serverCertificateManager: new OPCUACertificateManager({ automaticallyAcceptUnknownCertificate: true, rootFolder: pki }),
  userCertificateManager: new OPCUACertificateManager({ automaticallyAcceptUnknownCertificate: true, rootFolder: pki + "/users" }),
  securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
  securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
  allowAnonymous: true,
  userManager: { isValidUser: (user, pass) => user === "operator" && pass === password },
});
await server.initialize();
const ns = server.engine.addressSpace.getOwnNamespace();
const line = ns.addObject({ organizedBy: server.engine.addressSpace.rootFolder.objects, browseName: "Line" });
const vars = {
  Temperature: ns.addVariable({ componentOf: line, browseName: "Temperature", nodeId: "s=Temperature", dataType: "Double" }),
  Counter: ns.addVariable({ componentOf: line, browseName: "Counter", nodeId: "s=Counter", dataType: "UInt32" }),
  Alarm: ns.addVariable({ componentOf: line, browseName: "Alarm", nodeId: "s=Alarm", dataType: "Boolean" }),
  Level: ns.addAnalogDataItem({ componentOf: line, browseName: "Level", nodeId: "s=Level", dataType: "Double",
    engineeringUnitsRange: { low: 0, high: 100 } }),
};
let tick = 0;
setInterval(() => {
  tick++;
  const sine = Math.sin(tick / 20);
  vars.Temperature.setValueFromSource(new Variant({ dataType: DataType.Double, value: 20 + 5 * sine }));
  vars.Counter.setValueFromSource(new Variant({ dataType: DataType.UInt32, value: tick }));
  vars.Alarm.setValueFromSource(new Variant({ dataType: DataType.Boolean, value: sine > 0.8 }));
  vars.Level.setValueFromSource(new Variant({ dataType: DataType.Double, value: 50 + 20 * sine }));
}, 50);
await server.start();
console.log("certificate " + server.certificateFile);
console.log("listening " + server.getEndpointUrl());
process.on("SIGTERM", async () => { await server.shutdown(0); process.exit(0); });
// SIGUSR1 stalls every subscription that exists now: its publishing timer
// stops, so it sends neither data nor keep-alives, while the session and
// reads keep working. Subscriptions created later publish normally.
process.on("SIGUSR1", () => {
  let n = 0;
  for (const session of server.engine.getSessions()) {
    for (const sub of Object.values(session.publishEngine?._subscriptions ?? {})) {
      sub._stop_timer();
      n++;
    }
  }
  console.log("stalled " + n);
});
