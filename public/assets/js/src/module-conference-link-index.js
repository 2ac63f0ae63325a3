/*
 * ModuleConferenceLink — list page: AJAX delete (core two-step confirmation) and the live
 * state / last error columns, refreshed every few seconds while the page is visible.
 *
 * Plain ES2017: browsers run it as written, from this folder (see the controller's addAssets).
 */

/* global globalRootUrl, globalTranslate, ConferenceLinkStatus, $ */

const ConferenceLinkIndex = {
    $root: $('#conflink-index'),
    pollMs: 3000,
    timer: null,
    inFlight: false,

    t(key) {
        return (typeof globalTranslate !== 'undefined' && globalTranslate[key]) || key;
    },

    url(action) {
        return `${globalRootUrl}${ConferenceLinkIndex.$root.data('base-url')}/${action}`;
    },

    initialize() {
        const self = ConferenceLinkIndex;
        $('#conflink-table .popuped').popup();
        // First click: core's delete-something.js swaps the icon; second click deletes.
        self.$root.on('click', 'a.delete.two-steps-delete', (e) => e.preventDefault());
        self.$root.on('click', 'a.delete:not(.two-steps-delete)', (e) => {
            e.preventDefault();
            self.deleteRow($(e.currentTarget));
        });
        self.$root.on('dblclick', 'tr.conflink-row td:not(.collapsing)', (e) => {
            const id = $(e.currentTarget).closest('tr').data('id');
            window.location = self.url(`modify/${encodeURIComponent(id)}`);
        });
        if ($('#conflink-table').length === 0) {
            return;
        }
        document.addEventListener('visibilitychange', () => {
            if (document.visibilityState === 'visible') {
                self.refresh();
            } else if (self.timer !== null) {
                clearTimeout(self.timer);
                self.timer = null;
            }
        });
        self.refresh();
    },

    deleteRow($button) {
        const self = ConferenceLinkIndex;
        const id = String($button.data('id'));
        $button.addClass('loading disabled');
        $.ajax({
            url: self.url(`delete/${encodeURIComponent(id)}`),
            method: 'POST',
            dataType: 'json',
        }).done((response) => {
            if (response && response.success) {
                $button.closest('tr').remove();
                if ($('#conflink-table tbody tr').length === 0) {
                    window.location.reload();
                }
                return;
            }
            self.showMessage(self.t('module_conflink_DeleteFailed'));
        }).fail(() => {
            self.showMessage(self.t('module_conflink_DeleteFailed'));
        }).always(() => {
            $button.removeClass('loading disabled').addClass('two-steps-delete');
            $button.find('i').removeClass('close').addClass('trash');
        });
    },

    showMessage(text) {
        $('#conflink-worker-message').toggleClass('hidden', text === '').text(text);
    },

    refresh() {
        const self = ConferenceLinkIndex;
        if (self.inFlight || document.visibilityState !== 'visible') {
            return;
        }
        if (self.timer !== null) {
            clearTimeout(self.timer);
            self.timer = null;
        }
        self.inFlight = true;
        $.ajax({
            url: ConferenceLinkStatus.statusUrl(),
            method: 'GET',
            dataType: 'json',
            cache: false,
            timeout: 10000,
        }).done((body) => self.render(ConferenceLinkStatus.unwrapStatus(body)))
            .fail((xhr) => self.render(ConferenceLinkStatus.unwrapStatus(xhr && xhr.responseJSON)))
            .always(() => {
                self.inFlight = false;
                if (document.visibilityState === 'visible') {
                    self.timer = setTimeout(self.refresh, self.pollMs);
                }
            });
    },

    render(response) {
        const self = ConferenceLinkIndex;
        const ok = !!(response && response.ok);
        self.showMessage(ConferenceLinkStatus.workerWarning(response, self.t));
        $('#conflink-table tr.conflink-row').each((i, tr) => {
            const $tr = $(tr);
            const id = String($tr.data('id'));
            let link = null;
            if (ok) {
                link = response.links && response.links[id] ? response.links[id] : { state: 'absent' };
            }
            const model = ConferenceLinkStatus.view(link, self.t, Date.now(), ConferenceLinkStatus.adminLocale());
            const $label = $('<span class="ui small label"></span>')
                .attr('data-state', model.stateKey)
                .addClass(ConferenceLinkStatus.stateColor(model.stateKey))
                .text(model.stateKey === 'connected' && model.since !== ConferenceLinkStatus.DASH
                    ? `${model.state} · ${model.since}` : model.state);
            const $cell = $tr.find('td.conflink-state').empty().append($label);
            if (model.farEndKey !== '') {
                // Ringing, sending DTMF (step k of n), held, in the meeting, silent.
                $cell.append($('<div class="conflink-far-end"></div>')
                    .attr('data-far-end', model.farEndKey).text(model.farEnd));
            }
            $tr.find('td.conflink-last-error').text(model.last_error === ConferenceLinkStatus.DASH ? '' : model.last_error);
        });
    },
};

$(document).ready(() => {
    ConferenceLinkIndex.initialize();
});
