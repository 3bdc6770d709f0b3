/**
 * jupyter-token-count: live Claude token counts per cell, in the status bar and in a sidebar.
 * Works in JupyterLab 4 and Notebook 7 (the status bar and layout restorer are optional there).
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { DocumentWidget } from '@jupyterlab/docregistry';
import { ISignal, Signal } from '@lumino/signaling';

import { TokenCountAPI } from './api';
import { BadgeManager } from './badges';
import {
  documentSource,
  DocumentCounter,
  DocumentStatusItem,
  SelectionCounter
} from './documents';
import { tokenCountIcon } from './icon';
import { ModelCatalog } from './catalog';
import { CounterRegistry } from './counter';
import { TokenCountSettings } from './settings';
import { SIDEBAR_ID, TokenCountSidebar } from './sidebar';
import { TokenStatusItem } from './status';

export const PLUGIN_ID = 'jupyter-token-count:plugin';

export namespace CommandIDs {
  export const toggleBadges = 'token-count:toggle-badges';
  export const openSidebar = 'token-count:open-sidebar';
  export const recount = 'token-count:recount';
  export const copyMessages = 'token-count:copy-messages';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Live Claude token counts for notebook cells, in the status bar and a sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [
    ISettingRegistry,
    ICommandPalette,
    IStatusBar,
    ILabShell,
    ILayoutRestorer
  ],
  activate: async (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    registry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null
  ): Promise<void> => {
    const api = new TokenCountAPI(app.serviceManager.serverSettings);
    let loaded: ISettingRegistry.ISettings | null = null;
    if (registry) {
      try {
        loaded = await registry.load(PLUGIN_ID);
      } catch (err) {
        console.warn(
          'jupyter-token-count: settings unavailable, using defaults',
          err
        );
      }
    }
    const settings = new TokenCountSettings(loaded);
    const catalog = new ModelCatalog(api);
    void catalog.load().catch(() => undefined);
    const counters = new CounterRegistry({ api, settings, catalog });
    const { commands, shell } = app;

    // Sidebar (right area in JupyterLab, right panel in Notebook 7).
    const sidebar = new TokenCountSidebar({
      settings,
      catalog,
      activatePanel: (panel: NotebookPanel) => shell.activateById(panel.id)
    });
    shell.add(sidebar, 'right', { rank: 650 });
    restorer?.add(sidebar, 'jupyter-token-count-sidebar');

    // Per-notebook counting and badges; without a status bar (Notebook 7) the total goes in the
    // notebook's own toolbar, where its users look.
    const track = (panel: NotebookPanel) => {
      const counter = counters.get(panel);
      new BadgeManager({
        panel,
        counter,
        settings,
        catalog,
        commands,
        openCommand: CommandIDs.openSidebar
      });
      if (!statusBar) {
        const item = new TokenStatusItem({
          catalog,
          commands,
          openCommand: CommandIDs.openSidebar
        });
        item.addClass('jp-TokenCount-toolbarTotal');
        item.counter = counter;
        if (!panel.toolbar.insertAfter('spacer', 'token-count-total', item)) {
          panel.toolbar.addItem('token-count-total', item);
        }
      }
    };
    tracker.forEach(track);
    tracker.widgetAdded.connect((_, panel) => track(panel));

    // Status bar (JupyterLab; Notebook 7 has none by default).
    let statusItem: TokenStatusItem | null = null;
    const activeChanged = new Signal<object, void>({});
    if (statusBar) {
      statusItem = new TokenStatusItem({
        catalog,
        commands,
        openCommand: CommandIDs.openSidebar
      });
      statusBar.registerStatusItem('jupyter-token-count:status', {
        item: statusItem,
        align: 'left',
        rank: 5,
        isActive: () =>
          !!tracker.currentWidget &&
          (!labShell || labShell.currentWidget === tracker.currentWidget),
        activeStateChanged: activeChanged
      });
    }

    // Documents in the file editor or a viewer (JSON, Markdown preview, image, PDF), and the selected text
    // (a file's or a notebook cell's).
    const selection = new SelectionCounter({ api, settings, catalog });
    if (statusItem) {
      statusItem.selection = selection;
    }
    const documents = new Map<DocumentWidget, DocumentCounter>();
    const documentCounter = (widget: unknown): DocumentCounter | null => {
      const source = documentSource(widget);
      if (!source || !(widget instanceof DocumentWidget)) {
        return null;
      }
      let counter = documents.get(widget);
      if (!counter) {
        counter = new DocumentCounter({
          widget,
          source,
          api,
          settings,
          catalog
        });
        documents.set(widget, counter);
        widget.disposed.connect(() => documents.delete(widget));
        if (!statusBar) {
          // Notebook 7's editor and viewer pages have no status bar either: the count goes in their toolbar.
          const item = new DocumentStatusItem({ catalog, selection });
          item.counter = counter;
          widget.toolbar.addItem('token-count-total', item);
        }
      }
      return counter;
    };
    let docItem: DocumentStatusItem | null = null;
    if (statusBar) {
      docItem = new DocumentStatusItem({ catalog, selection });
      statusBar.registerStatusItem('jupyter-token-count:document', {
        item: docItem,
        align: 'left',
        rank: 6,
        isActive: () => !!documentSource(shell.currentWidget),
        activeStateChanged: activeChanged
      });
    }

    const follow = () => {
      const counter = counters.find(tracker.currentWidget) ?? null;
      sidebar.counter = counter;
      if (statusItem) {
        statusItem.counter = counter;
      }
      const doc = documentCounter(shell.currentWidget);
      if (docItem) {
        docItem.counter = doc;
      }
      sidebar.document = doc;
      selection.editor = doc
        ? doc.editor // null in a viewer: it has no editor selection
        : (tracker.currentWidget?.content.activeCell?.editor ?? null);
      activeChanged.emit();
      commands.notifyCommandChanged();
    };
    tracker.currentChanged.connect(follow);
    tracker.activeCellChanged.connect(follow);
    counters.counterAdded.connect(follow);
    const shellChanged = (labShell?.currentChanged ??
      (shell as { currentChanged?: ISignal<unknown, unknown> })
        .currentChanged) as ISignal<unknown, unknown> | undefined;
    shellChanged?.connect(follow);
    follow();

    // Commands.
    const current = () => counters.find(tracker.currentWidget) ?? null;
    commands.addCommand(CommandIDs.toggleBadges, {
      label: 'Show Token Count Badges',
      caption: 'Show or hide the token count beside each cell',
      isToggled: () => settings.config.showBadges,
      execute: () => settings.set('showBadges', !settings.config.showBadges)
    });
    commands.addCommand(CommandIDs.openSidebar, {
      label: 'Open Token Count Panel',
      caption: 'Show the notebook’s tokens by cell, by type and by model',
      icon: tokenCountIcon,
      execute: () => {
        if (!sidebar.isAttached) {
          shell.add(sidebar, 'right', { rank: 650 });
        }
        shell.activateById(SIDEBAR_ID);
      }
    });
    commands.addCommand(CommandIDs.recount, {
      label: 'Recount Notebook Tokens',
      caption: 'Count every cell of the current notebook again',
      isEnabled: () => !!current(),
      execute: () => current()?.recount()
    });
    commands.addCommand(CommandIDs.copyMessages, {
      label: 'Copy Notebook as Claude Messages (JSON)',
      caption: 'Copy the Messages API request that the counts refer to',
      isEnabled: () => !!current(),
      execute: async () => {
        const counter = current();
        if (!counter) {
          return;
        }
        try {
          const { request } = await api.messages(counter.buildRequest());
          Clipboard.copyToSystem(JSON.stringify(request, null, 2));
          Notification.success(
            'Copied the notebook as a Claude Messages request (JSON).',
            {
              autoClose: 3000
            }
          );
        } catch (err) {
          Notification.error(
            `Could not build the messages: ${(err as Error).message}`,
            {
              autoClose: 5000
            }
          );
        }
      }
    });
    settings.changed.connect(() =>
      commands.notifyCommandChanged(CommandIDs.toggleBadges)
    );

    if (palette) {
      const category = 'Token Count';
      for (const command of Object.values(CommandIDs)) {
        palette.addItem({ command, category });
      }
    }
  }
};

export default plugin;
