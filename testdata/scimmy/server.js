// A real SCIM 2.0 service provider for scimbridge's push tests: SCIMMY (third-party)
// behind express, with an in-memory store, a request log and fault injection.
//
//   node server.js [PORT]   (or PORT=..., SCIM_TOKEN=... in the environment)
//
// SCIM lives under /scim/v2 behind "Authorization: Bearer $SCIM_TOKEN". Test-only endpoints:
//   GET  /_log              the requests received so far: [{method, path, query, body, status}]
//   POST /_reset            clears the log and the faults ({"data":true} also empties the store)
//   POST /_faults           adds a fault rule, e.g. {"method":"POST","path":"/Users","status":500,"times":1},
//                           {"status":429,"retryAfter":1}, {"userName":"bob","status":400,"detail":"bad"},
//                           {"reset":true} (drop the connection), {"skip":3,"delayResponseMs":30000}
//                           (process the request, then hold the answer back)
//   POST /_load             stores resources as given, ids included: {"Users":[…],"Groups":[…]} (benchmarks)
//   POST /_config           merges into SCIMMY's ServiceProviderConfig, e.g. {"patch":{"supported":false}}
// Prints "listening PORT" once ready.
"use strict";
const crypto = require("node:crypto");
const express = require("express");
const {SCIMMY, SCIMMYRouters} = require("scimmy-routers");

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const token = process.env.SCIM_TOKEN ?? "test-token";

const store = {Users: new Map(), Groups: new Map()};
let log = [];
let faults = [];

// Quirk 1: scimmy-routers casts startIndex/count on a copy that Express 5 throws away; parse them as numbers up front.
const app = express();
app.set("query parser", (qs) => {
    const q = {};
    for (const [k, v] of new URLSearchParams(qs)) q[k] = (k === "startIndex" || k === "count") && v !== "" && !Number.isNaN(+v) ? +v : v;
    return q;
});
app.use(express.json({type: ["application/scim+json", "application/json"], limit: "100mb"}));

app.get("/_log", (req, res) => res.json(log));
app.post("/_reset", (req, res) => {
    log = [];
    faults = [];
    if (req.body?.data) for (const m of Object.values(store)) m.clear();
    res.status(204).end();
});
app.post("/_faults", (req, res) => {
    faults.push({...req.body, seen: 0, hits: 0});
    res.status(204).end();
});
app.post("/_load", (req, res) => {
    const now = new Date().toISOString();
    for (const kind of ["Users", "Groups"])
        for (const r of req.body?.[kind] ?? []) store[kind].set(r.id, {...r, meta: {created: now, lastModified: now}});
    res.status(204).end();
});
app.post("/_config", (req, res) => res.json(SCIMMY.Config.set(req.body)));

// Request log and fault injection for everything under /scim/v2.
app.use("/scim/v2", (req, res, next) => {
    const entry = {method: req.method, path: req.path, query: req.query, body: req.body ?? null, status: 0};
    log.push(entry);
    res.on("finish", () => { entry.status = res.statusCode; });
    const f = faults.find((f) => matches(f, req));
    if (!f) return next();
    f.hits++;
    if (f.reset) return req.socket.destroy();
    if (f.delayResponseMs) {
        const end = res.end.bind(res);
        res.end = (...args) => { setTimeout(() => end(...args), f.delayResponseMs); return res; };
        return next();
    }
    if (f.retryAfter !== undefined) res.set("Retry-After", String(f.retryAfter));
    res.status(f.status).type("application/scim+json").send(JSON.stringify({
        schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: String(f.status),
        ...(f.scimType ? {scimType: f.scimType} : {}), detail: f.detail ?? "injected fault",
    }));
});

function matches(f, req) {
    if (f.times && f.hits >= f.times) return false;
    if (f.method && f.method !== req.method) return false;
    if (f.path && !(f.path.endsWith("*") ? req.path.startsWith(f.path.slice(0, -1)) : req.path === f.path)) return false;
    if (f.userName && req.body?.userName !== f.userName) return false;
    if (f.displayName && req.body?.displayName !== f.displayName) return false;
    return f.seen++ >= (f.skip ?? 0);
}

// Quirk 4: SCIMMY sets no Location header on 201.
app.use("/scim/v2", (req, res, next) => {
    const json = res.json.bind(res);
    res.json = (body) => {
        if (res.statusCode === 201 && body?.meta?.location) res.location(body.meta.location);
        return json(body);
    };
    next();
});

// declare wires one resource type to the in-memory store; unique is the attribute that must be unique
// (case-insensitively, as userName and displayName are caseExact=false).
function declare(Resource, name, unique) {
    const items = store[name];
    const conflict = (value, id) => [...items.values()].some((r) => r.id !== id && String(r[unique]).toLowerCase() === String(value).toLowerCase());
    return SCIMMY.Resources.declare(Resource)
        .ingress((resource, instance) => {
            const now = new Date().toISOString();
            const id = resource.id ?? crypto.randomUUID();
            const old = items.get(id);
            if (resource.id && !old) throw new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
            if (conflict(instance[unique], id)) throw new SCIMMY.Types.Error(409, "uniqueness", `${unique} ${instance[unique]} already exists`);
            const data = JSON.parse(JSON.stringify(instance));
            delete data.meta;
            const value = {...data, id, meta: {created: old?.meta.created ?? now, lastModified: now}};
            items.set(id, value);
            return value;
        })
        .egress((resource) => {
            if (resource.id) {
                const r = items.get(resource.id);
                if (!r) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
                return r;
            }
            // Quirk 2: the handler applies the filter itself.
            const all = [...items.values()];
            return resource.filter ? resource.filter.match(all) : all;
        })
        .degress((resource) => {
            if (!items.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            if (name === "Users" || name === "Groups")
                for (const g of store.Groups.values()) if (g.members) g.members = g.members.filter((m) => m.value !== resource.id);
        });
}

declare(SCIMMY.Resources.User, "Users", "userName").extend(SCIMMY.Schemas.EnterpriseUser, false);
declare(SCIMMY.Resources.Group, "Groups", "displayName");
SCIMMY.Config.set({patch: {supported: true}, filter: {supported: true, maxResults: 200}});

let base = "";
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (req) => {
        if (req.header("Authorization") !== `Bearer ${token}`) throw new Error("Bearer token missing or wrong");
        return "push-client";
    },
    baseUri: () => base,
}));

const server = app.listen(port, "127.0.0.1", () => {
    const p = server.address().port;
    base = `http://127.0.0.1:${p}`;
    console.log(`listening ${p}`);
});
