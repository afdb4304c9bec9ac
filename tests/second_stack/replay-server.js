#!/usr/bin/env node
// The second, independent OPC-UA server stack of the test suite (issue 11, point 9): node-opcua
// replays a tag script made by tests/second_stack/history.py from a simulator history export,
// the way a real PLC publishes: each value is written once, when it changes (report-by-exception),
// at its own time shifted to the wall clock; after the last change the server keeps running with
// its values frozen and its clock (Server/ServerStatus/CurrentTime) ticking, until killed.
//
//   node replay-server.js --port PORT --script SCRIPT.json --pki DIR [--start stdin|SECONDS]
//                         [--timestamps given|none] [--source-skew SECONDS]
//
// Values are set the way an application on node-opcua sets them, with its defaults:
// setValueFromSource(variant, statusCode, sourceTimestamp). --timestamps given (default): the
// script's time is passed as the source timestamp; node-opcua copies it into ServerTimestamp too.
// --timestamps none: no timestamp is passed, the value is set at its time; node-opcua stamps both
// from its own clock, with picoseconds (see docs/plc-integration.md, "Second stack").
// --source-skew SECONDS: the timestamps passed are the PLC's clock, SECONDS off the wall clock; the
// server's own clock (Server/ServerStatus/CurrentTime) stays honest.
//
// Prints "READY <endpoint>" when clients may connect and "DONE <epoch s>" after the last change.
// --start stdin (the tests): wait for a line "START <epoch seconds>" naming the wall time of the
// script's first row, so two servers replay with identical timestamps. --start SECONDS: the
// first row is now + SECONDS (default 2).
"use strict";

const fs = require("fs");
const readline = require("readline");
const { OPCUAServer } = require("node-opcua-server");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const { SecurityPolicy } = require("node-opcua-secure-channel");
const { MessageSecurityMode } = require("node-opcua-types");
const { StatusCodes } = require("node-opcua-status-code");
const { DataType, Variant } = require("node-opcua-variant");

// replay-format quality (0 good, 1 uncertain, 2 bad) -> status code
const STATUS = [StatusCodes.Good, StatusCodes.Uncertain, StatusCodes.Bad];

function parseArgs(argv) {
  const args = { start: "2", timestamps: "given", "source-skew": "0" };
  const usage = "usage: replay-server.js --port PORT --script FILE --pki DIR [--start stdin|SECONDS] " +
    "[--timestamps given|none] [--source-skew SECONDS]";
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in args || ["port", "script", "pki"].includes(key)) || i + 1 >= argv.length) {
      throw new Error(`${usage}; got ${argv[i]}`);
    }
    args[key] = argv[i + 1];
  }
  for (const key of ["port", "script", "pki"]) {
    if (!args[key]) throw new Error(`--${key} is required`);
  }
  if (!["given", "none"].includes(args.timestamps)) throw new Error(`${usage}; got --timestamps ${args.timestamps}`);
  if (!Number.isFinite(Number(args["source-skew"]))) throw new Error(`${usage}; got --source-skew ${args["source-skew"]}`);
  if (args.timestamps === "none" && Number(args["source-skew"]) !== 0) {
    throw new Error("--source-skew needs --timestamps given: without a timestamp node-opcua stamps its own clock");
  }
  return args;
}

function variant(type, value) {
  return new Variant({ dataType: type === "String" ? DataType.String : DataType.Double, value });
}

// The wall time (ms) of the script's first row.
function startTime(start) {
  if (start !== "stdin") return Promise.resolve(Date.now() + Number(start) * 1000);
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin });
    let started = false;
    rl.on("line", (line) => {
      const m = /^START\s+([0-9.]+)\s*$/.exec(line);
      if (m && !started) {
        started = true;
        resolve(Number(m[1]) * 1000);
        rl.close();
      }
    });
    rl.on("close", () => started || reject(new Error("stdin closed before a START line")));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const script = JSON.parse(fs.readFileSync(args.script, "utf8"));
  const certificateManager = new OPCUACertificateManager({
    rootFolder: args.pki,
    automaticallyAcceptUnknownCertificate: true,
  });
  const server = new OPCUAServer({
    port: Number(args.port),
    host: "127.0.0.1",
    hostname: "127.0.0.1", // the advertised endpoint: clients reconnect to what GetEndpoints says
    resourcePath: "/blackmass",
    serverCertificateManager: certificateManager,
    // a PLC on a plant network often offers None only; the monitor's default is None
    securityPolicies: [SecurityPolicy.None],
    securityModes: [MessageSecurityMode.None],
    buildInfo: { productName: "blackmass node-opcua replay", softwareVersion: "1" },
  });
  await server.initialize();

  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.registerNamespace(script.namespace_uri);
  // the same layout and string node ids as monitor/simulator/server.py: Line_<line>/<unit>/<tag>
  const line = ns.addObject({
    organizedBy: addressSpace.rootFolder.objects,
    browseName: `Line_${script.line}`,
    nodeId: `s=Line_${script.line}`,
  });
  const units = new Map();
  const nodes = new Map();
  const bornAt = new Date();
  const skewMs = Number(args["source-skew"]) * 1000;
  for (const [tag, type] of Object.entries(script.tags)) {
    const [unitName, varName] = [tag.slice(0, tag.indexOf(".")), tag.slice(tag.indexOf(".") + 1)];
    if (!units.has(unitName)) {
      units.set(unitName, ns.addObject({ componentOf: line, browseName: unitName, nodeId: `s=${unitName}` }));
    }
    const node = ns.addVariable({
      componentOf: units.get(unitName),
      browseName: varName,
      nodeId: `s=${tag}`,
      dataType: type,
      minimumSamplingInterval: 0, // values change only when written: clients may monitor them by exception
    });
    const born = args.timestamps === "none" ? undefined : new Date(bornAt.getTime() + skewMs);
    node.setValueFromSource(variant(type, script.initial[tag]), StatusCodes.Good, born);
    nodes.set(tag, { node, type });
  }

  await server.start();
  const endpoint = server.getEndpointUrl();
  console.log(`READY ${endpoint}`);

  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      server.shutdown(0).finally(() => process.exit(0));
    });
  }

  const t0 = await startTime(args.start);
  let last = t0;
  for (const [offset, tag, value, quality] of script.events) {
    const at = t0 + offset * 1000;
    if (at > Date.now()) await sleep(at - Date.now());
    const { node, type } = nodes.get(tag);
    if (args.timestamps === "none") {
      node.setValueFromSource(variant(type, value), STATUS[quality]);
    } else {
      node.setValueFromSource(variant(type, value), STATUS[quality], new Date(at + skewMs));
    }
    last = at;
  }
  console.log(`DONE ${(last / 1000).toFixed(3)}`);
  // keep serving: the clock ticks on, the values stay as they are
}

main().catch((err) => {
  console.error(`replay-server: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
