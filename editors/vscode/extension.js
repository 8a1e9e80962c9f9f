// The client side of `snnc lsp`: starts the server over stdio for .snn
// files. Highlighting comes from the TextMate grammar alone.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

async function start() {
  const config = vscode.workspace.getConfiguration('snn');
  if (!config.get('server.enable', true)) {
    return;
  }
  const command = config.get('server.path', 'snnc') || 'snnc';
  // An Executable without `transport` talks over stdin/stdout.
  const serverOptions = {
    run: { command, args: ['lsp'] },
    debug: { command, args: ['lsp'] },
  };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'snn' },
      { scheme: 'untitled', language: 'snn' },
    ],
  };
  client = new LanguageClient('snn', 'snnc language server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    vscode.window.showErrorMessage(
      `Could not start \`${command} lsp\`: ${err.message}. Set "snn.server.path" to the snnc executable.`,
    );
  }
}

async function stop() {
  if (client) {
    const c = client;
    client = undefined;
    await c.stop();
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('snn.server')) {
        await stop();
        await start();
      }
    }),
  );
  await start();
}

module.exports = { activate, deactivate: stop };
