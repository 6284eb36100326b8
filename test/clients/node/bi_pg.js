// BI questions through node-postgres as a role with anonymized access.
//
// Connects as bi_reader (anonymized access to responses, no SELECT on it) and
// as survey_owner (the table's owner) to the database anonymize_clients made
// by test/clients/run; PGHOST (socket directory) and PGPORT name the server.
// Parameters travel in the extended protocol (untyped, as node-postgres sends
// them), through unnamed and named (server-side prepared) statements.  Exits
// 1 with a message naming the question and both answers when something
// differs.
'use strict';

const fs = require('fs');
const path = require('path');
const { Client } = require('pg');

const DB = 'anonymize_clients';
const K = 5;
const TENURES = ['1-3y', '3y+', '<1y'];
const COLUMNS = [['department', 'very_sensitive'], ['site', 'somewhat_sensitive']];
// Types of the plain query's columns: text, int8 (count), float8 (avg).
const TYPES = [25, 20, 701];
const failures = [];

function fail(msg) {
	failures.push(msg);
	console.log('FAILED: ' + msg);
}

// The BI tool's question, with $1 for the filter.
function biQuery(col) {
	return `SELECT ${col}, count(*) AS count, avg(score) AS avg FROM responses ` +
		`WHERE tenure = $1 GROUP BY ${col} ORDER BY ${col}`;
}

// What the owner computes for the same rows with anonymized_breakout (the grantee gets no row for a hidden group).
function ownerQuery(col, sensitivity) {
	return `SELECT b.label, b.n, b.mean FROM (SELECT anonymize.anonymized_breakout(` +
		`${col}, score, ${K}, '${sensitivity}') AS a FROM responses WHERE tenure = $1) AS s, ` +
		`unnest(s.a) AS b WHERE b.status <> 'hidden' ORDER BY b.label`;
}

// Rows as [key, count, avg]: node-postgres gives int8 as a string.
function norm(rows) {
	return rows.map(([k, n, m]) => [k, n === null ? null : Number(n), m]);
}

function fmt(rows) {
	if (rows.length === 0)
		return '    (no row)';
	return rows.map(r => '    ' + r.map(v => v === null ? 'NULL' : JSON.stringify(v)).join(' | '))
		.join('\n');
}

function compare(what, got, want, wantName) {
	if (JSON.stringify(got) !== JSON.stringify(want)) {
		fail(`${what}: got\n${fmt(got)}\n  but ${wantName}\n${fmt(want)}`);
		return false;
	}
	return true;
}

function loadExpected() {
	const expected = new Map();
	const text = fs.readFileSync(path.join(__dirname, '..', 'expected.tsv'), 'utf8');
	for (const line of text.split('\n')) {
		if (line === '' || line.startsWith('#'))
			continue;
		const [col, tenure, key, n, mean] = line.split('\t');
		const k = col + '\t' + tenure;
		if (!expected.has(k))
			expected.set(k, []);
		expected.get(k).push([key, n === '\\N' ? null : Number(n), mean === '\\N' ? null : Number(mean)]);
	}
	return expected;
}

function errText(e) {
	return `error ${e.code}: ${e.message}`;
}

// One question as the grantee: names, types and rows against the owner's.
async function ask(bi, query, what, col, want, wantName = "the owner's anonymized_breakout gives") {
	let res;
	try {
		res = await bi.query(query);
	} catch (e) {
		fail(`${what}: ${errText(e)}`);
		return false;
	}
	const fields = res.fields.map(f => [f.name, f.dataTypeID]);
	const wantFields = [[col, TYPES[0]], ['count', TYPES[1]], ['avg', TYPES[2]]];
	if (JSON.stringify(fields) !== JSON.stringify(wantFields))
		fail(`${what}: columns ${JSON.stringify(fields)}, not ${JSON.stringify(wantFields)} (name, type OID)`);
	return compare(what, norm(res.rows), want, wantName);
}

// A named statement run six times or more: after five custom plans the plan
// cache may choose the generic plan; with force_generic_plan it must.
async function preparedRounds(bi, expected, col, name, mode) {
	await bi.query(`SET plan_cache_mode = ${mode}`);
	const runs = 8;
	for (let i = 0; i < runs; i++) {
		const tenure = TENURES[i % TENURES.length];
		const what = `GROUP BY ${col} WHERE tenure = '${tenure}' (named statement ${name}, ` +
			`execution ${i + 1}, plan_cache_mode ${mode})`;
		const want = expected.get(col + '\t' + tenure) || [];
		await ask(bi, { name, text: biQuery(col), values: [tenure], rowMode: 'array' }, what, col, want,
			'expected.tsv (which the owner\'s anonymized_breakout gives) holds');
	}
	const res = await bi.query({
		text: 'SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1',
		values: [name], rowMode: 'array',
	});
	await bi.query('RESET plan_cache_mode');
	if (res.rows.length !== 1) {
		fail(`named statement ${name}: not in pg_prepared_statements (no Parse of it succeeded)`);
		return;
	}
	const [generic, custom] = res.rows[0].map(Number);
	console.log(`named statement ${name} (${mode}): ${generic} generic and ${custom} custom plans`);
	if (mode === 'force_generic_plan' && generic < runs)
		fail(`named statement ${name}: ${generic} generic plans of ${runs} executions under force_generic_plan`);
}

async function main() {
	const expected = loadExpected();
	const conn = { host: process.env.PGHOST, port: process.env.PGPORT, database: DB };
	const owner = new Client({ ...conn, user: 'survey_owner' });
	const bi = new Client({ ...conn, user: 'bi_reader', application_name: 'bi_pg' });
	await owner.connect();
	await bi.connect();
	const version = await bi.query('SHOW server_version');
	console.log(`node ${process.version}, pg ${require('pg/package.json').version}, ` +
		`server ${version.rows[0].server_version}`);

	for (const [col, sensitivity] of COLUMNS) {
		for (const tenure of TENURES) {
			const res = await owner.query({ text: ownerQuery(col, sensitivity), values: [tenure], rowMode: 'array' });
			const want = norm(res.rows);
			const owned = `owner's anonymized_breakout(${col}, score, ${K}, '${sensitivity}') WHERE tenure = '${tenure}'`;
			if (compare(owned, want, expected.get(col + '\t' + tenure) || [], 'expected.tsv holds'))
				console.log(`ok ${owned}: the ${want.length} rows of expected.tsv`);
			const what = `GROUP BY ${col} WHERE tenure = '${tenure}' (unnamed statement as bi_reader)`;
			if (await ask(bi, { text: biQuery(col), values: [tenure], rowMode: 'array' }, what, col, want))
				console.log(`ok ${what}: ${want.length} rows`);
		}
	}
	const before = failures.length;
	await preparedRounds(bi, expected, 'department', 'bi_department', 'auto');
	await preparedRounds(bi, expected, 'site', 'bi_site_generic', 'force_generic_plan');
	if (failures.length === before)
		console.log('ok named statements, 8 executions each, default and force_generic_plan');

	// Rows of the table: refused with insufficient_privilege, in both
	// protocols, and the connection still answers.
	for (const [proto, query] of [['simple', 'SELECT * FROM responses'],
		['extended', { text: 'SELECT * FROM responses WHERE tenure = $1', values: ['1-3y'] }]]) {
		try {
			const res = await bi.query(query);
			fail(`SELECT * FROM responses (${proto} protocol) as bi_reader returned ${res.rows.length} rows, not SQLSTATE 42501`);
		} catch (e) {
			if (e.code !== '42501')
				fail(`SELECT * FROM responses (${proto} protocol) as bi_reader: SQLSTATE ${e.code}, not 42501 (${e.message})`);
			else
				console.log(`ok SELECT * FROM responses (${proto} protocol) as bi_reader: SQLSTATE 42501: ${e.message}`);
		}
	}
	const what = "GROUP BY department WHERE tenure = '3y+' after the refused queries";
	if (await ask(bi, { text: biQuery('department'), values: ['3y+'], rowMode: 'array' }, what,
		'department', expected.get('department\t3y+'), 'expected.tsv holds'))
		console.log(`ok ${what}`);

	await bi.end();
	await owner.end();
	if (failures.length > 0) {
		console.log(`bi_pg: ${failures.length} check(s) failed`);
		process.exitCode = 1;
	}
}

main().catch(e => {
	console.log(`bi_pg: unexpected ${e.code ? errText(e) : e.stack}`);
	process.exitCode = 1;
});
