// Lints the Dockerfile with dockerfile-utils (the validator of the VS Code Docker language server): no Docker engine
// runs on our machines, so this is how CI keeps the Dockerfile honest. Exit 1 on any problem.
const fs = require('fs');
const { validate } = require('dockerfile-utils');
const file = process.argv[2] || 'Dockerfile';
const problems = validate(fs.readFileSync(file, 'utf8'), {});
for (const p of problems) console.log(`${file}:${p.range.start.line + 1}: ${p.message}`);
console.log(`dockerfile lint: ${problems.length} problem(s) in ${file}`);
process.exit(problems.length === 0 ? 0 : 1);
