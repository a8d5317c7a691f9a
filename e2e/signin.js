// Drives headless Chromium through authgate's browser sign-in, as a person
// would, and as an attacker would. Started by e2e/browser_test.go, which
// runs authgate (proxy mode), nginx (auth_request mode), the echo upstream
// and a page of another site, and passes their addresses:
//
//   MODES      "proxy=http://localhost:1234,nginx=http://localhost:5678"
//   EVIL       http://127.0.0.1:9999 (another site: its forms post to authgate)
//   OUT        directory for screenshots and sizes.json
//   TTL_MS     access-token lifetime in milliseconds
//   PROVIDER   display name of an identity provider on the sign-in page
//              ("Hydra"), whose login signs in carol-hydra; empty: none
//
// Exit status 0 when every check passed; each check prints one line.
'use strict';
const { OUT, check, browser, shot, echoUser, signIn, main } = require('./lib');

const EVIL = process.env.EVIL;
const TTL = Number(process.env.TTL_MS || 2000);
const modes = Object.fromEntries(process.env.MODES.split(',').map((kv) => kv.split('=')));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(mode, base) {
  console.log(`# ${mode}: ${base}`);
  const ctx = await browser(700);
  const page = ctx.pages()[0] || (await ctx.newPage());
  const host = new URL(base).host;

  // 1. a protected URL sends us to sign in, and back after it
  const wanted = base + '/api/report?month=5&year=2026';
  await page.goto(wanted);
  const u = new URL(page.url());
  check(u.pathname === '/auth/ui/sign-in' && u.searchParams.get('return_to') === '/api/report?month=5&year=2026',
    `${mode}: protected URL leads to the sign-in page`, page.url());
  if (mode === 'proxy') await shot(page, 'sign-in');
  await signIn(page, 'alice', 'wrong-password-1');
  check((await page.textContent('[role=alert]').catch(() => '')).includes('wrong'), `${mode}: a wrong password is said next to the form`);
  check((await page.getByLabel('Username').inputValue()) === 'alice' && (await page.getByLabel('Password').inputValue()) === '',
    `${mode}: the username is kept, the password is not`);
  if (mode === 'proxy') await shot(page, 'sign-in-error');
  await signIn(page, 'alice', 'alice-password-1');
  check(page.url() === wanted && (await echoUser(page)) === 'alice', `${mode}: signed in, on the URL asked for`, page.url());

  // 2. past the access token's expiry, several tabs at once keep working
  await sleep(TTL + 1000);
  const tabs = await Promise.all([1, 2, 3, 4].map(() => ctx.newPage()));
  await Promise.all(tabs.map((t, i) => t.goto(`${base}/api/tab/${i}`)));
  const users = await Promise.all(tabs.map(echoUser));
  check(users.every((x) => x === 'alice'), `${mode}: four tabs after expiry are still signed in`, JSON.stringify(users));
  await sleep(TTL + 1000);
  await Promise.all(tabs.map((t) => t.reload()));
  const again = await Promise.all(tabs.map(echoUser));
  check(again.every((x) => x === 'alice'), `${mode}: and again after the next expiry`, JSON.stringify(again));
  await Promise.all(tabs.map((t) => t.close()));

  // 3. another site's forms cannot sign out, change anything or sign in as someone else
  for (const [form, what] of [['logout', 'sign out (POST /logout)'], ['signout', 'sign out (the sign-out page)'],
    ['transfer', 'post to the app'], ['password', 'change the password'], ['login', 'sign in as the attacker (login CSRF)'],
    ['jsonlogin', 'sign in as the attacker on the JSON route']]) {
    await page.goto(`${EVIL}/forms.html?target=${encodeURIComponent(base)}`);
    await Promise.all([page.waitForLoadState('load'), page.click(`#${form} button`)]);
    const body = await page.textContent('body').catch(() => '');
    check(!body.includes('"X-User-Id"'), `${mode}: a cross-site form cannot ${what}`, body.slice(0, 200));
    await page.goto(`${base}/api/whoami`);
    check((await echoUser(page)) === 'alice', `${mode}: still signed in as alice after the cross-site ${form}`, page.url());
  }

  // 4. crafted return addresses never leave the allow-list
  for (const ret of ['//evil.example/', '/\\evil.example', '\\\\evil.example', 'https:evil.example', 'javascript:alert(1)',
    `${EVIL}/`, '/%2f%2fevil.example', 'https://localhost@evil.example/', '/%5c%5cevil.example', 'http://evil.example%2f@localhost/']) {
    await page.goto(`${base}/auth/ui/sign-in?return_to=${encodeURIComponent(ret)}`).catch(() => {});
    const at = new URL(page.url());
    check(at.host === host && at.protocol === 'http:', `${mode}: return_to ${JSON.stringify(ret)} stays on ${host}`, page.url());
  }

  // 5. sign out; the back button shows nothing protected
  await page.goto(`${base}/api/secret-page`);
  check((await echoUser(page)) === 'alice', `${mode}: a protected page before signing out`);
  await page.goto(`${base}/auth/ui/sign-out`);
  if (mode === 'proxy') await shot(page, 'sign-out');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign out' }).click()]);
  check(new URL(page.url()).pathname === '/auth/ui/signed-out', `${mode}: signed out`, page.url());
  if (mode === 'proxy') await shot(page, 'signed-out');
  let leaked = false;
  for (let i = 0; i < 3; i++) {
    await page.goBack().catch(() => {});
    if ((await echoUser(page)) === 'alice') leaked = true;
  }
  check(!leaked, `${mode}: the back button shows nothing protected`, page.url());
  await page.goto(`${base}/api/secret-page`);
  check(new URL(page.url()).pathname === '/auth/ui/sign-in', `${mode}: after signing out a protected URL asks to sign in again`, page.url());
  await ctx.close();

  // 6. must-change: taken to the password page and nowhere else until it is changed
  const ctx2 = await browser(700);
  const p2 = ctx2.pages()[0] || (await ctx2.newPage());
  await p2.goto(`${base}/api/dashboard`);
  await signIn(p2, `bob-${mode}`, 'bob-password-1');
  check(new URL(p2.url()).pathname === '/auth/ui/password', `${mode}: a must-change user lands on the password page`, p2.url());
  if (mode === 'proxy') await shot(p2, 'password');
  await p2.goto(`${base}/api/elsewhere`);
  check(new URL(p2.url()).pathname === '/auth/ui/password', `${mode}: and cannot reach anything else`, p2.url());
  await p2.getByLabel('Current password').fill('bob-password-1');
  await p2.getByLabel('New password').fill('bob-new-password-2');
  await Promise.all([p2.waitForLoadState('load'), p2.getByRole('button', { name: 'Change password' }).click()]);
  check(p2.url() === `${base}/api/elsewhere` && (await echoUser(p2)) === `bob-${mode}`,
    `${mode}: after the change, on the URL asked for`, p2.url());
  if (mode === 'proxy') {
    for (const [name, url] of [['forgot-password', '/auth/ui/forgot-password'], ['register', '/auth/ui/register'],
      ['reset-password', '/auth/ui/reset-password?token=x.y'], ['verify-email', '/auth/ui/verify-email?token=x.y'],
      ['sign-in-admin', '/auth/ui/sign-in/admin']]) {
      await p2.goto(base + url);
      await shot(p2, name);
    }
  }
  await ctx2.close();

  // 7. "Sign in with <provider>" on the sign-in page: through the provider
  // and back to the URL asked for, signed in as the provider's person.
  if (mode === 'proxy' && process.env.PROVIDER) {
    const ctx3 = await browser(700);
    const p3 = ctx3.pages()[0] || (await ctx3.newPage());
    const asked = `${base}/api/from-provider?x=1`;
    await p3.goto(asked);
    check(new URL(p3.url()).pathname === '/auth/ui/sign-in', `${mode}: protected URL leads to the sign-in page (provider)`, p3.url());
    await shot(p3, 'sign-in-providers');
    await Promise.all([p3.waitForURL(asked), p3.getByRole('link', { name: `Sign in with ${process.env.PROVIDER}` }).click()]);
    check(p3.url() === asked && (await echoUser(p3)) === 'carol-hydra',
      `${mode}: "Sign in with ${process.env.PROVIDER}" signs in through the provider and lands on the URL asked for`, p3.url());
    await ctx3.close();
  }
}

main(Object.entries(modes).map(([mode, base]) => [`${mode}: `, () => run(mode, base)]));
