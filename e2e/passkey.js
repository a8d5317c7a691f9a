// Passkeys in a real browser: headless Chromium with a virtual
// authenticator (Chrome DevTools Protocol, WebAuthn domain) enrols a
// passkey on the security page, signs out, signs in with the password and
// then the passkey, reaches a path whose rule says mfa: required, and a
// password-only session is sent to the second-step page there instead.
// Started by e2e/passkey_test.go, which runs authgate and the echo
// upstream and passes:
//
//   BASE   http://localhost:1234 (a secure context: WebAuthn needs one)
//   OUT    directory for screenshots
//
// Exit status 0 when every check passed; each check prints one line.
'use strict';
const { OUT, check, browser, shot, echoUser, signIn, main } = require('./lib');

const BASE = process.env.BASE;

const pathOf = (page) => new URL(page.url()).pathname;

async function run() {
  const ctx = await browser(900);
  const page = ctx.pages()[0] || (await ctx.newPage());
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });

  // 1. sign in with the password, add a passkey on the security page
  await page.goto(`${BASE}/auth/ui/sign-in?return_to=${encodeURIComponent('/auth/ui/security')}`);
  await signIn(page, 'pat', 'pat-password-1');
  check(pathOf(page) === '/auth/ui/security', 'signed in with the password, on the security page', page.url());
  await page.getByLabel('Passkey name').fill('Test laptop');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.waitForSelector('#passkey-codes:not([hidden])');
  const codes = await page.locator('#passkey-codes code').allTextContents();
  check(codes.length === 10, 'the first passkey shows ten recovery codes once', JSON.stringify(codes));
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1 && credentials[0].rpId === 'localhost', 'the authenticator holds one credential for localhost',
    JSON.stringify(credentials.map((c) => c.rpId)));
  await shot(page, 'security-codes');
  await page.goto(`${BASE}/auth/ui/security`);
  check((await page.locator('.passkey-name').allTextContents()).includes('Test laptop'), 'the security page lists the passkey by its name');
  await shot(page, 'security');

  // 2. sign out; sign in again: the password alone is not enough
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign out' }).click()]);
  check(pathOf(page) === '/auth/ui/signed-out', 'signed out', page.url());
  const wanted = `${BASE}/admin/panel?tab=2`;
  await page.goto(wanted);
  check(pathOf(page) === '/auth/ui/sign-in', 'the mfa: required path asks to sign in', page.url());
  await signIn(page, 'pat', 'pat-password-1');
  check(pathOf(page) === '/auth/ui/mfa' && new URL(page.url()).searchParams.get('return_to') === '/admin/panel?tab=2',
    'after the password, the second-step page, returning to the URL asked for', page.url());
  await shot(page, 'mfa');
  const restricted = await page.context().newPage();
  await restricted.goto(`${BASE}/api/anything`);
  check((await echoUser(restricted)) !== 'pat', 'with only the password, no proxied path is reached', restricted.url());
  await restricted.close();

  // 3. the passkey completes the sign-in; the mfa: required path is reached
  await Promise.all([page.waitForURL(wanted), page.getByRole('button', { name: 'Use a passkey' }).click()]);
  check(page.url() === wanted && (await echoUser(page)) === 'pat', 'the passkey signs in and the mfa: required path is reached', page.url());
  await page.goto(`${BASE}/api/after`);
  check((await echoUser(page)) === 'pat', 'and the other paths too', page.url());
  await ctx.close();

  // 4. a password-only account is refused at the mfa: required path
  const ctx2 = await browser(900);
  const p2 = ctx2.pages()[0] || (await ctx2.newPage());
  await p2.goto(`${BASE}/api/hello`);
  await signIn(p2, 'sam', 'sam-password-1');
  check((await echoUser(p2)) === 'sam', 'a password-only account reaches a path without mfa: required', p2.url());
  await p2.goto(`${BASE}/admin/panel`);
  check(pathOf(p2) === '/auth/ui/mfa' && (await echoUser(p2)) === null,
    'and is sent to the second-step page at the mfa: required path', p2.url());
  await shot(p2, 'mfa-enrol');
  await ctx2.close();
}

main([['', run]]);
