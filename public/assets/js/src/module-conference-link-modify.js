/*
 * ModuleConferenceLink — link form page: validation (shared rules), save through the core
 * Form object, live status panel and call controls.
 *
 * Plain ES2017: browsers run it as written, from this folder (see the controller's addAssets).
 */

/* global globalRootUrl, globalTranslate, globalWebAdminLanguage, SemanticLocalization, Form,
   ConferenceLinkRules, ConferenceLinkStatus, ConferenceLinkPresets, $ */

const ConferenceLinkModify = {
    $formObj: $('#conflink-form'),
    $statusPanel: $('#conflink-status-panel'),
    $controlResult: $('#conflink-control-result'),
    pollMs: 2500,
    timer: null,
    inFlight: false,
    rooms: [],
    providers: [],

    t(key) {
        return (typeof globalTranslate !== 'undefined' && globalTranslate[key]) || key;
    },

    url(action) {
        return `${globalRootUrl}${ConferenceLinkModify.$formObj.data('base-url')}/${action}`;
    },

    linkId() {
        return String(ConferenceLinkModify.$formObj.data('link-id') || '');
    },

    initialize() {
        const self = ConferenceLinkModify;
        self.$formObj.find('.ui.checkbox').checkbox();
        self.$formObj.find('.ui.dropdown').dropdown({ fullTextSearch: true });
        // Existence checks in the browser use the options the server rendered; options
        // marked missing are not valid choices.
        self.rooms = self.optionValues('conference_uniqid');
        self.providers = self.optionValues('provider_uniqid');
        ConferenceLinkRules.installSemanticRules($.fn.form.settings.rules, () => ({
            rooms: self.rooms,
            providers: self.providers,
            // The named fields and the custom DTMF count only for the chosen preset.
            preset: self.preset(),
            // Through the PBX's outgoing routes no provider is needed.
            dial_via: self.dialVia(),
        }));
        $('#conflink-advanced').accordion();
        self.initializePresets();
        self.initializeDeadAir();
        self.initializeDialVia();
        self.initializeForm();
        self.initializeControls();
        self.initializeStatus();
    },

    optionValues(name) {
        // DropdownOptions appends " (missing)" to a saved value that no longer exists.
        const missing = ` ${ConferenceLinkModify.t('module_conflink_Missing')}`;
        const values = [];
        $(`select[name="${name}"] option`).each((i, option) => {
            const $option = $(option);
            const value = String($option.val());
            if (value !== '' && !$option.text().endsWith(missing)) {
                values.push(value);
            }
        });
        return values;
    },

    preset() {
        return String($('select[name="preset"]').val() || ConferenceLinkRules.DEFAULTS.preset);
    },

    /** Shows the chosen preset's help line and fields, and keeps the preview current. */
    initializePresets() {
        const self = ConferenceLinkModify;
        const inputs = ['dtmf'].concat(ConferenceLinkPresets.FIELDS).map((f) => `#${f}`).join(', ');
        const update = () => {
            const preset = self.preset();
            $('.conflink-preset-help, .conflink-preset-label').each((i, el) => {
                $(el).toggle($(el).data('preset') === preset);
            });
            $('.conflink-preset-field, .conflink-custom-dtmf').each((i, el) => {
                const presets = String($(el).data('presets') || '').split(' ');
                $(el).toggle(presets.indexOf(preset) !== -1);
            });
            const values = {};
            ['dtmf'].concat(ConferenceLinkPresets.FIELDS).forEach((f) => {
                values[f] = ConferenceLinkRules.phpTrim(String($(`#${f}`).val() || ''));
            });
            const view = ConferenceLinkPresets.preview(preset, values, self.t);
            $('#conflink-dtmf-preview').text(view.code).toggle(view.code !== '');
            $('#conflink-dtmf-preview-note').text(view.note);
            $('#conflink-dtmf-preview-line').attr('data-kind', view.kind);
        };
        $('select[name="preset"]').on('change', () => {
            update();
            // Errors shown for the previous preset's fields no longer apply.
            self.$formObj.find('.conflink-preset-field, .conflink-custom-dtmf').removeClass('error')
                .find('.prompt').remove();
        });
        $(inputs).on('input change', update);
        update();
    },

    dialVia() {
        return String($('select[name="dial_via"]').val() || ConferenceLinkRules.DEFAULTS.dial_via);
    },

    /** The provider field counts only when the link dials through it (dial_via provider). */
    initializeDialVia() {
        const self = ConferenceLinkModify;
        const update = () => {
            const routes = self.dialVia() === 'routes';
            $('#conflink-provider-field').toggle(!routes).toggleClass('required', !routes);
            if (routes) {
                // An error shown for the provider no longer applies (its prompt and its line
                // in the form's error list).
                self.$formObj.form('remove prompt', 'provider_uniqid');
                const gone = self.t('module_conflink_error_provider_required');
                self.$formObj.find('.ui.error.message li').filter((i, li) => $(li).text() === gone).remove();
                if (self.$formObj.find('.field.error').length === 0) {
                    self.$formObj.removeClass('error');
                }
            }
        };
        $('select[name="dial_via"]').on('change', update);
        update();
    },

    /** "Do nothing" stores dead_air 0; "Hang up and redial" asks for the seconds. */
    initializeDeadAir() {
        const $policy = $('select[name="dead_air_policy"]');
        const $seconds = $('#dead_air');
        const update = () => {
            const redial = $policy.val() === 'redial';
            $('#conflink-dead-air-field').toggle(redial);
            if (redial && ($seconds.val() === '0' || $seconds.val() === '')) {
                $seconds.val('60').trigger('change');
            } else if (!redial && $seconds.val() !== '0') {
                // Hidden and off: 0, so its rule cannot refuse a value nobody sees.
                $seconds.val('0').trigger('change');
            }
        };
        $policy.on('change', update);
        update();
    },

    /** Opens the collapsed section when one of its fields is refused, so the error is seen. */
    openAdvancedOnError() {
        const advanced = ['prompt_silence', 'prompt_timeout', 'dtmf_mode', 'dead_air', 'end_cooldown'];
        const errors = ConferenceLinkRules.validateLink(
            ConferenceLinkModify.formValues(),
            { rooms: ConferenceLinkModify.rooms, providers: ConferenceLinkModify.providers },
        );
        if (advanced.some((f) => Object.prototype.hasOwnProperty.call(errors, f))) {
            $('#conflink-advanced').accordion('open', 0);
        }
    },

    formValues() {
        const values = ConferenceLinkModify.$formObj.form('get values');
        if (values.dead_air_policy !== 'redial') {
            values.dead_air = '0';
        }
        return values;
    },

    cbBeforeSendForm(settings) {
        const result = settings;
        // Unchecked boxes must reach the server as '0', not vanish from the POST body.
        result.data = ConferenceLinkRules.prepare(ConferenceLinkModify.formValues());
        result.data.id = ConferenceLinkModify.linkId();
        return result;
    },

    cbAfterSendForm() {
        // The reply's reload path reopens the saved link; nothing else to do.
    },

    initializeForm() {
        Form.$formObj = ConferenceLinkModify.$formObj;
        Form.url = ConferenceLinkModify.url('save');
        Form.validateRules = ConferenceLinkRules.semanticValidateRules(ConferenceLinkModify.t);
        Form.cbBeforeSendForm = ConferenceLinkModify.cbBeforeSendForm;
        Form.cbAfterSendForm = ConferenceLinkModify.cbAfterSendForm;
        Form.initialize();
        $('#submitbutton').on('click', () => ConferenceLinkModify.openAdvancedOnError());
    },

    initializeControls() {
        const self = ConferenceLinkModify;
        $('#conflink-call-now').on('click', (e) => {
            e.preventDefault();
            self.control('dial', { force: '0' }, 'module_conflink_DialSent', $(e.currentTarget));
        });
        $('#conflink-hang-up').on('click', (e) => {
            e.preventDefault();
            self.control('hangup', {}, 'module_conflink_HangupSent', $(e.currentTarget));
        });
        $('#conflink-test-call').on('click', (e) => {
            e.preventDefault();
            const seconds = String($('#conflink-test-seconds').val() || '');
            if (!ConferenceLinkRules.validateTestCallSeconds(seconds)) {
                self.showControlResult(false, self.t('module_conflink_error_test_seconds'));
                return;
            }
            self.control('dial', { force: '1', seconds }, 'module_conflink_TestCallSent', $(e.currentTarget));
        });
        $('#conflink-send-dtmf').on('click', (e) => {
            e.preventDefault();
            const digits = ConferenceLinkRules.normalizeSendDigits($('#conflink-dtmf-digits').val());
            if (digits === null) {
                self.showControlResult(false, self.t('module_conflink_error_send_digits'));
                return;
            }
            self.control('dtmf', { digits }, 'module_conflink_DtmfSent', $(e.currentTarget));
        });
        $('#conflink-mute').on('click', (e) => {
            e.preventDefault();
            const $button = $(e.currentTarget);
            const action = $button.attr('data-action') === 'unmute' ? 'unmute' : 'mute';
            self.control(action, {}, action === 'mute' ? 'module_conflink_MuteSent' : 'module_conflink_UnmuteSent', $button);
        });
    },

    /** Unsaved edits would not reach the worker: say so instead of calling with old data. */
    hasUnsavedChanges() {
        return typeof Form !== 'undefined' && Form.$submitButton && Form.$submitButton.length > 0
            && !Form.$submitButton.hasClass('disabled');
    },

    control(action, data, okKey, $button) {
        const self = ConferenceLinkModify;
        if (self.linkId() === '') {
            return;
        }
        if (self.hasUnsavedChanges()) {
            self.showControlResult(false, self.t('module_conflink_SaveFirst'));
            return;
        }
        $button.addClass('loading');
        self.$controls().add(self.$roomControls()).addClass('disabled').prop('disabled', true);
        const show = (body) => {
            const result = ConferenceLinkStatus.controlResult(body, self.t(okKey), self.t);
            self.showControlResult(result.ok, result.text);
        };
        $.ajax({
            url: ConferenceLinkStatus.controlUrl(self.linkId(), action),
            method: 'POST',
            dataType: 'json',
            data,
            timeout: 15000,
        }).done(show).fail((xhr) => show(xhr && xhr.responseJSON)).always(() => {
            $button.removeClass('loading');
            // The next status reply decides whether the buttons come back.
            self.refreshStatus();
        });
    },

    $controls() {
        return $('#conflink-call-now, #conflink-hang-up, #conflink-test-call');
    },

    $roomControls() {
        return $('#conflink-send-dtmf, #conflink-mute');
    },

    /** Send DTMF and Mute/Unmute act on the live call: enabled only with the external party in the room. */
    renderRoomControls(link, workerOk) {
        const self = ConferenceLinkModify;
        const c = ConferenceLinkStatus.roomControls(link, self.t);
        const enabled = workerOk && c.live;
        self.$roomControls().toggleClass('disabled', !enabled).prop('disabled', !enabled);
        const $mute = $('#conflink-mute');
        $mute.attr('data-action', c.muteAction);
        $mute.find('.conflink-mute-label').text(c.muteLabel);
        $('#conflink-status-table').find('[data-status="muted"]').text(c.muted);
        $('#conflink-status-table').find('[data-status="used_today"]').text(ConferenceLinkStatus.usedToday(link, self.t));
    },

    /** Calls go through the worker: while it does not answer, the buttons cannot work. */
    setControlsEnabled(enabled) {
        ConferenceLinkModify.$controls().toggleClass('disabled', !enabled).prop('disabled', !enabled);
    },

    showControlResult(ok, text) {
        ConferenceLinkModify.$controlResult
            .removeClass('hidden positive negative')
            .addClass(ok ? 'positive' : 'negative')
            .text(text);
    },

    initializeStatus() {
        const self = ConferenceLinkModify;
        if (self.linkId() === '') {
            return;
        }
        document.addEventListener('visibilitychange', () => {
            if (document.visibilityState === 'visible') {
                self.refreshStatus();
            } else {
                self.stopPolling();
                $('#conflink-status-updated').text(self.t('module_conflink_StatusPaused'));
            }
        });
        self.refreshStatus();
    },

    stopPolling() {
        if (ConferenceLinkModify.timer !== null) {
            clearTimeout(ConferenceLinkModify.timer);
            ConferenceLinkModify.timer = null;
        }
    },

    scheduleNext() {
        const self = ConferenceLinkModify;
        self.stopPolling();
        if (document.visibilityState === 'visible') {
            self.timer = setTimeout(self.refreshStatus, self.pollMs);
        }
    },

    refreshStatus() {
        const self = ConferenceLinkModify;
        if (self.inFlight || document.visibilityState !== 'visible') {
            return;
        }
        self.stopPolling();
        self.inFlight = true;
        $.ajax({
            url: ConferenceLinkStatus.statusUrl(),
            method: 'GET',
            dataType: 'json',
            cache: false,
            timeout: 10000,
        }).done((body) => {
            self.renderStatus(ConferenceLinkStatus.unwrapStatus(body));
        }).fail((xhr) => {
            self.renderStatus(ConferenceLinkStatus.unwrapStatus(xhr && xhr.responseJSON));
        }).always(() => {
            self.inFlight = false;
            self.scheduleNext();
        });
    },

    renderStatus(response) {
        // far_end: the display text (model.farEnd) under the status key's name.
        const self = ConferenceLinkModify;
        const $message = $('#conflink-status-message');
        const ok = !!(response && response.ok);
        const link = ok && response.links ? response.links[self.linkId()] : null;
        const warning = ConferenceLinkStatus.workerWarning(response, self.t);
        $message.toggleClass('hidden', warning === '').text(warning);
        self.setControlsEnabled(ok);

        const locale = ConferenceLinkStatus.adminLocale();
        const model = ConferenceLinkStatus.view(
            link || (ok ? { state: 'absent' } : null),
            self.t,
            Date.now(),
            locale,
        );
        model.far_end = model.farEnd;
        const $table = $('#conflink-status-table');
        ['internal_participants', 'external_channel', 'since', 'attempts', 'next_attempt_in', 'last_error', 'far_end']
            .forEach((key) => $table.find(`[data-status="${key}"]`).text(model[key]));
        const $state = $('<span class="ui label"></span>')
            .addClass(ConferenceLinkStatus.stateColor(model.stateKey))
            .text(model.state);
        $table.find('[data-status="state"]').empty().append($state);
        self.renderRoomControls(link, ok);

        const $body = $('#conflink-attempt-log tbody').empty();
        if (model.log.length === 0) {
            $body.append($('<tr class="conflink-log-empty"></tr>')
                .append($('<td colspan="5"></td>').text(self.t('module_conflink_LogEmpty'))));
        }
        model.log.forEach((entry) => {
            const $row = $('<tr></tr>');
            ['time', 'result', 'cause', 'duration', 'dtmf'].forEach((key) => $row.append($('<td></td>').text(entry[key])));
            $body.append($row);
        });
        $('#conflink-status-updated').text(
            `${self.t('module_conflink_StatusUpdated')}: ${ConferenceLinkStatus.formatClock(new Date(), locale)}`,
        );
    },
};

$(document).ready(() => {
    ConferenceLinkModify.initialize();
});
