// A Modbus TCP server from a second implementation (npm modbus-serial), for the monitor's Modbus tests.
// Usage: node modbus-server.js PORT. Prints "ready PORT" when listening. Commands on stdin, one JSON per line:
//   {"table": "holding"|"input"|"coil", "address": N, "values": [..]}  set registers (or coils); answers "ok N"
//   {"refuse": [from, to]}  holding registers from..to-1 answer exception 2 (illegal data address)
//   {"busy": true|false}    every read answers exception 6 (server device busy)
// Holding registers from 1000 on do not exist (exception 2), as on many small devices.
"use strict";
const ModbusRTU = require("modbus-serial");
const readline = require("readline");

const port = Number(process.argv[2]);
const tables = { holding: new Array(1000).fill(0), input: new Array(1000).fill(0), coil: new Array(1000).fill(false) };
let refused = [0, 0];
let busy = false;
let reads = 0;

function check(table, address, length) {
  reads += 1;
  if (busy) throw { modbusErrorCode: 0x06, msg: "busy" };
  if (address + length > tables[table].length) throw { modbusErrorCode: 0x02, msg: "no such register" };
  if (table === "holding" && address < refused[1] && address + length > refused[0]) {
    throw { modbusErrorCode: 0x02, msg: "refused" };
  }
}

const vector = {
  getMultipleHoldingRegisters(address, length) {
    check("holding", address, length);
    return tables.holding.slice(address, address + length);
  },
  getHoldingRegister(address) {
    check("holding", address, 1);
    return tables.holding[address];
  },
  getMultipleInputRegisters(address, length) {
    check("input", address, length);
    return tables.input.slice(address, address + length);
  },
  getInputRegister(address) {
    check("input", address, 1);
    return tables.input[address];
  },
  getCoil(address) {
    check("coil", address, 1);
    return tables.coil[address];
  },
};

const server = new ModbusRTU.ServerTCP(vector, { host: "127.0.0.1", port, unitID: 1 });
server.on("initialized", () => console.log(`ready ${port}`));
server.on("socketError", (err) => console.error(`socket error: ${err}`));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.refuse) refused = cmd.refuse;
  if (cmd.busy !== undefined) busy = cmd.busy;
  if (cmd.table) {
    cmd.values.forEach((v, i) => { tables[cmd.table][cmd.address + i] = cmd.table === "coil" ? Boolean(v) : v; });
  }
  console.log(`ok ${reads}`);
});
