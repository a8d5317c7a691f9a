// What the Chromium scripts (signin.js, passkey.js) share: Debian's
// Chromium launched as these machines need it, the checks and their tally,
// and the page helpers both use. OUT (the environment) is the directory
// for screenshots.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

// As root, in a container, on a closed network: without the background-
// networking flags Chromium keeps trying Google's hosts and is refused.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUT = process.env.OUT;

let failed = 0;
let passed = 0;
function check(ok, what, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}${detail ? ': ' + detail : ''}`);
  }
}

// browser starts Chromium with a new, empty profile.
async function browser(height) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authgate-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium', headless: true, args: ARGS, viewport: { width: 900, height },
  });
  ctx.setDefaultTimeout(15000);
  return ctx;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, name + '.png'), fullPage: true });
}

// echoUser is the X-User-Name the echo upstream saw, or null when the page
// is not the echo.
async function echoUser(page) {
  const text = await page.textContent('body').catch(() => '');
  try {
    const j = JSON.parse(text);
    const v = j.headers && j.headers['X-User-Name'];
    return v ? v[0] : '';
  } catch {
    return null;
  }
}

async function signIn(page, user, password) {
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign in' }).click()]);
}

// main runs each [label, async function] in turn (a throw is a failed
// check named "<label>ran to the end"), prints the tally and exits 0 only
// when every check passed.
async function main(runs) {
  fs.mkdirSync(OUT, { recursive: true });
  for (const [label, fn] of runs) {
    try {
      await fn();
    } catch (e) {
      check(false, `${label}ran to the end`, e.stack);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

module.exports = { OUT, check, browser, shot, echoUser, signIn, main };
