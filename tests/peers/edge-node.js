// A Sparkplug B edge node from a second implementation (Eclipse Tahu's npm sparkplug-client), for the
// monitor's Sparkplug tests. Usage: node edge-node.js BROKER_URL GROUP NODE DEVICE.
// Prints "ready" at its first birth, "rebirth N" after each rebirth a host asked for (NCMD).
// Commands on stdin, one JSON per line, each answered "ok":
//   {"data": {"Temp": 81.5, ...}, "ts": MS}  DDATA of those metrics, by alias only, stamped MS
//   {"skip": 1}                                 lose a message: the next one's seq jumps by one
//   {"die": true}                               stop, publishing NDEATH
//   {"revive": true}                            a new session: births again
"use strict";
const sparkplug = require("sparkplug-client");
const readline = require("readline");

const [broker, groupId, edgeNode, device] = process.argv.slice(2);
const METRICS = {
  Temp: { alias: 1, type: "Double" },
  Total: { alias: 2, type: "Int32" },
  Mode: { alias: 3, type: "String" },
  Running: { alias: 4, type: "Boolean" },
};
const values = { Temp: 20.0, Total: 0, Mode: "idle", Running: false };
let stamp = Date.now();
let rebirths = 0;
let client = null;
let ready = false;

function births() {
  client.publishNodeBirth({ timestamp: stamp, metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: false }] });
  const metrics = Object.entries(METRICS).map(([name, m]) => ({ name, alias: m.alias, type: m.type, value: values[name], timestamp: stamp }));
  client.publishDeviceBirth(device, { timestamp: stamp, metrics });
}

function start() {
  client = sparkplug.newClient({
    serverUrl: broker, username: "", password: "", groupId, edgeNode, clientId: `tahu-${edgeNode}-${Date.now()}`,
    publishDeath: true, version: "spBv1.0",
  });
  client.on("birth", () => {
    births();
    if (!ready) { ready = true; console.log("ready"); }
  });
  client.on("ncmd", (payload) => {
    const ask = (payload.metrics || []).find((m) => m.name === "Node Control/Rebirth" && m.value);
    if (ask) { births(); rebirths += 1; console.log(`rebirth ${rebirths}`); }
  });
}

start();
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.data) {
    stamp = cmd.ts;
    const metrics = Object.entries(cmd.data).map(([name, value]) => {
      values[name] = value;
      return { alias: METRICS[name].alias, type: METRICS[name].type, value, timestamp: cmd.ts };
    });
    client.publishDeviceData(device, { timestamp: cmd.ts, metrics });
  }
  if (cmd.skip) client.incrementSeqNum();
  if (cmd.die) client.stop();
  if (cmd.revive) start();
  console.log("ok");
});
