{# Link form, live status panel (refreshed by module-conference-link-modify.js every few
   seconds while the page is visible) and call controls. #}
<form method="post" action="{{ url(baseUrl ~ '/save') }}" role="form" class="ui large form" id="conflink-form"
      data-base-url="{{ baseUrl }}" data-link-id="{{ linkId|e }}">
    {{ form.render('id') }}

    <h4 class="ui dividing header">{{ t._('module_conflink_SectionLink') }}</h4>
    <div class="two fields">
        <div class="required field">
            <label for="conference_uniqid">{{ t._('module_conflink_conference_extension') }}</label>
            {{ form.render('conference_uniqid') }}
            <div class="conflink-help">{{ t._('module_conflink_conference_extension_help') }}</div>
        </div>
        <div class="field">
            <label for="dial_via">{{ t._('module_conflink_dial_via') }}</label>
            {{ form.render('dial_via') }}
            <div class="conflink-help">{{ t._('module_conflink_dial_via_help') }}</div>
        </div>
    </div>
    <div class="two fields">
        <div class="required field" id="conflink-provider-field">
            <label for="provider_uniqid">{{ t._('module_conflink_provider_uniqid') }}</label>
            {{ form.render('provider_uniqid') }}
            <div class="conflink-help">{{ t._('module_conflink_provider_uniqid_help') }}</div>
        </div>
    </div>
    <div class="field">
        <div class="ui toggle checkbox" id="enabled-checkbox">
            {{ form.render('enabled') }}
            <label for="enabled">{{ t._('module_conflink_enabled') }}</label>
        </div>
        <div class="conflink-help">{{ t._('module_conflink_enabled_help') }}</div>
    </div>
    <div class="field">
        <label for="description">{{ t._('module_conflink_description') }}</label>
        {{ form.render('description') }}
        <div class="conflink-help">{{ t._('module_conflink_description_help') }}</div>
    </div>

    <h4 class="ui dividing header">{{ t._('module_conflink_SectionCall') }}</h4>
    <div class="two fields">
        <div class="required field">
            <label for="dst_number">{{ t._('module_conflink_dst_number') }}</label>
            {{ form.render('dst_number') }}
            <div class="conflink-help">{{ t._('module_conflink_dst_number_help') }}</div>
        </div>
        <div class="field">
            <label for="callerid">{{ t._('module_conflink_callerid') }}</label>
            {{ form.render('callerid') }}
            <div class="conflink-help">{{ t._('module_conflink_callerid_help') }}</div>
        </div>
    </div>
    {# Dial-in preset: the page script shows the chosen preset's help line and fields. #}
    <div class="two fields">
        <div class="field">
            <label for="preset">{{ t._('module_conflink_preset') }}</label>
            {{ form.render('preset') }}
            <div class="conflink-help">{{ t._('module_conflink_preset_help') }}</div>
        </div>
        <div class="field">
            <label for="dtmf_delay">{{ t._('module_conflink_dtmf_delay') }}</label>
            {{ form.render('dtmf_delay') }}
            <div class="conflink-help">{{ t._('module_conflink_dtmf_delay_help') }}</div>
        </div>
    </div>
    <div class="ui info message conflink-preset-help-box" id="conflink-preset-help">
        {% for name, preset in presetUi['presets'] %}
            <p class="conflink-preset-help" data-preset="{{ name }}">{{ preset['help']|e }}</p>
        {% endfor %}
    </div>
    <div class="three fields" id="conflink-preset-fields">
        {% for field, users in presetUi['fields'] %}
            <div class="field conflink-preset-field" data-field="{{ field }}" data-presets="{% for u in users %}{{ u['preset'] }} {% endfor %}">
                <label for="{{ field }}">
                    {% for u in users %}<span class="conflink-preset-label" data-preset="{{ u['preset'] }}">{{ u['label']|e }}{% if not u['required'] %} <span class="conflink-optional">({{ t._('module_conflink_preset_field_optional') }})</span>{% endif %}</span>{% endfor %}
                </label>
                {{ form.render(field) }}
            </div>
        {% endfor %}
    </div>
    <div class="field conflink-custom-dtmf" data-presets="custom">
        <label for="dtmf">{{ t._('module_conflink_dtmf') }}</label>
        {{ form.render('dtmf') }}
        <div class="conflink-help">{{ t._('module_conflink_dtmf_help') }}</div>
    </div>
    <div class="field">
        <div class="conflink-help" id="conflink-dtmf-preview-line">
            {{ t._('module_conflink_dtmf_preview') }} <code id="conflink-dtmf-preview"></code><span id="conflink-dtmf-preview-note"></span>
        </div>
        <div class="conflink-help">{{ t._('module_conflink_dtmf_preview_legend') }}</div>
    </div>

    {# Far-end handling: rarely changed, so collapsed unless a value differs from its default. #}
    <div class="ui styled fluid accordion" id="conflink-advanced">
        <div class="title{% if advancedOpen %} active{% endif %}"><i class="dropdown icon"></i>{{ t._('module_conflink_SectionAdvanced') }}</div>
        <div class="content{% if advancedOpen %} active{% endif %}">
            <div class="three fields">
                <div class="field">
                    <label for="prompt_silence">{{ t._('module_conflink_prompt_silence') }}</label>
                    {{ form.render('prompt_silence') }}
                    <div class="conflink-help">{{ t._('module_conflink_prompt_silence_help') }}</div>
                </div>
                <div class="field">
                    <label for="prompt_timeout">{{ t._('module_conflink_prompt_timeout') }}</label>
                    {{ form.render('prompt_timeout') }}
                    <div class="conflink-help">{{ t._('module_conflink_prompt_timeout_help') }}</div>
                </div>
                <div class="field">
                    <label for="dtmf_mode">{{ t._('module_conflink_dtmf_mode') }}</label>
                    {{ form.render('dtmf_mode') }}
                    <div class="conflink-help">{{ t._('module_conflink_dtmf_mode_help') }}</div>
                </div>
            </div>
            <div class="three fields">
                <div class="field">
                    <label for="dead_air_policy">{{ t._('module_conflink_dead_air_policy') }}</label>
                    {{ form.render('dead_air_policy') }}
                    <div class="conflink-help">{{ t._('module_conflink_dead_air_policy_help') }}</div>
                </div>
                <div class="field" id="conflink-dead-air-field">
                    <label for="dead_air">{{ t._('module_conflink_dead_air') }}</label>
                    {{ form.render('dead_air') }}
                </div>
                <div class="field">
                    <label for="end_cooldown">{{ t._('module_conflink_end_cooldown') }}</label>
                    {{ form.render('end_cooldown') }}
                    <div class="conflink-help">{{ t._('module_conflink_end_cooldown_help') }}</div>
                </div>
            </div>
        </div>
    </div>

    <h4 class="ui dividing header">{{ t._('module_conflink_SectionRoom') }}</h4>
    <div class="two fields">
        <div class="field">
            <label for="room_keys">{{ t._('module_conflink_room_keys') }}</label>
            {{ form.render('room_keys') }}
            <div class="conflink-help">{{ t._('module_conflink_room_keys_help') }}</div>
        </div>
        <div class="field">
            <div class="ui checkbox" id="announce-checkbox">
                {{ form.render('announce') }}
                <label for="announce">{{ t._('module_conflink_announce') }}</label>
            </div>
            <div class="conflink-help">{{ t._('module_conflink_announce_help') }}</div>
        </div>
    </div>

    <h4 class="ui dividing header">{{ t._('module_conflink_SectionLimits') }}</h4>
    <div class="two fields">
        <div class="field">
            <label for="max_call_minutes">{{ t._('module_conflink_max_call_minutes') }}</label>
            {{ form.render('max_call_minutes') }}
            <div class="conflink-help">{{ t._('module_conflink_max_call_minutes_help') }}</div>
        </div>
        <div class="field">
            <label for="daily_minutes">{{ t._('module_conflink_daily_minutes') }}</label>
            {{ form.render('daily_minutes') }}
            <div class="conflink-help">{{ t._('module_conflink_daily_minutes_help') }}</div>
        </div>
    </div>

    <h4 class="ui dividing header">{{ t._('module_conflink_SectionSchedule') }}</h4>
    <div class="two fields">
        <div class="field">
            <label for="schedule">{{ t._('module_conflink_schedule') }}</label>
            {{ form.render('schedule') }}
            <div class="conflink-help">{{ t._('module_conflink_schedule_help') }}</div>
        </div>
        <div class="field">
            <label for="schedule_end">{{ t._('module_conflink_schedule_end') }}</label>
            {{ form.render('schedule_end') }}
            <div class="conflink-help">{{ t._('module_conflink_schedule_end_help') }}</div>
        </div>
    </div>

    <h4 class="ui dividing header">{{ t._('module_conflink_SectionRetry') }}</h4>
    <div class="three fields">
        <div class="field">
            <label for="ring_timeout">{{ t._('module_conflink_ring_timeout') }}</label>
            {{ form.render('ring_timeout') }}
            <div class="conflink-help">{{ t._('module_conflink_ring_timeout_help') }}</div>
        </div>
        <div class="field">
            <label for="arm_delay">{{ t._('module_conflink_arm_delay') }}</label>
            {{ form.render('arm_delay') }}
            <div class="conflink-help">{{ t._('module_conflink_arm_delay_help') }}</div>
        </div>
        <div class="field">
            <label for="linger">{{ t._('module_conflink_linger') }}</label>
            {{ form.render('linger') }}
            <div class="conflink-help">{{ t._('module_conflink_linger_help') }}</div>
        </div>
    </div>
    <div class="two fields">
        <div class="field">
            <label for="max_attempts">{{ t._('module_conflink_max_attempts') }}</label>
            {{ form.render('max_attempts') }}
            <div class="conflink-help">{{ t._('module_conflink_max_attempts_help') }}</div>
        </div>
        <div class="field">
            <label for="backoff">{{ t._('module_conflink_backoff') }}</label>
            {{ form.render('backoff') }}
            <div class="conflink-help">{{ t._('module_conflink_backoff_help') }}</div>
        </div>
    </div>
    <div class="field">
        <div class="ui checkbox" id="redial-checkbox">
            {{ form.render('redial_on_drop') }}
            <label for="redial_on_drop">{{ t._('module_conflink_redial_on_drop') }}</label>
        </div>
        <div class="conflink-help">{{ t._('module_conflink_redial_on_drop_help') }}</div>
    </div>

    {# Core's partial prints {{ class }} unguarded: pass it, or every page logs a warning. #}
    {{ partial("partials/submitbutton", ['indexurl': baseUrl ~ '/index', 'class': '']) }}
</form>

<div class="ui clearing hidden divider"></div>

<div class="ui segment" id="conflink-status-panel">
    <h4 class="ui header">
        {{ t._('module_conflink_StatusHeader') }}
        <span class="sub header" id="conflink-status-updated"></span>
    </h4>
    {% if linkId == '' %}
        <div class="ui info message">{{ t._('module_conflink_StatusNotSaved') }}</div>
    {% else %}
        <div class="ui hidden warning message" id="conflink-status-message"></div>
        <table class="ui very basic compact definition table" id="conflink-status-table">
            <tbody>
            <tr><td class="four wide">{{ t._('module_conflink_StatusState') }}</td><td data-status="state">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusFarEnd') }}</td><td data-status="far_end">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusParticipants') }}</td><td data-status="internal_participants">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusChannel') }}</td><td data-status="external_channel">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusSince') }}</td><td data-status="since">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusAttempt') }}</td><td data-status="attempts">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusNextAttempt') }}</td><td data-status="next_attempt_in">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusLastError') }}</td><td data-status="last_error">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusMuted') }}</td><td data-status="muted">—</td></tr>
            <tr><td>{{ t._('module_conflink_StatusUsedToday') }}</td><td data-status="used_today">—</td></tr>
            </tbody>
        </table>

        {# Disabled until the first status reply says the worker answers. #}
        <div class="ui form" id="conflink-controls">
            <div class="inline fields">
                <div class="field">
                    <button type="button" class="ui primary disabled button" disabled id="conflink-call-now" title="{{ t._('module_conflink_CallNowHelp')|e }}">
                        <i class="phone icon"></i> {{ t._('module_conflink_CallNow') }}
                    </button>
                </div>
                <div class="field">
                    <button type="button" class="ui red disabled button" disabled id="conflink-hang-up" title="{{ t._('module_conflink_HangUpHelp')|e }}">
                        <i class="phone slash icon"></i> {{ t._('module_conflink_HangUp') }}
                    </button>
                </div>
                <div class="field">
                    <label for="conflink-test-seconds">{{ t._('module_conflink_TestCallSeconds') }}</label>
                    <input type="number" id="conflink-test-seconds" value="{{ testCallSeconds }}" min="{{ testCallMin }}" max="{{ testCallMax }}" step="1" class="conflink-seconds-input">
                </div>
                <div class="field">
                    <button type="button" class="ui teal disabled button" disabled id="conflink-test-call" title="{{ t._('module_conflink_TestCallHelp')|e }}">
                        <i class="stethoscope icon"></i> {{ t._('module_conflink_TestCall') }}
                    </button>
                </div>
            </div>
            <div class="conflink-help">{{ t._('module_conflink_TestCallHelp') }}</div>
            {# Live-call controls: enabled only while the external party is in the room. #}
            <div class="inline fields" id="conflink-room-controls">
                <label>{{ t._('module_conflink_RoomControls') }}</label>
                <div class="field">
                    <label for="conflink-dtmf-digits">{{ t._('module_conflink_DtmfDigits') }}</label>
                    <input type="text" id="conflink-dtmf-digits" value="*6" maxlength="32" autocomplete="off" class="conflink-digits-input">
                </div>
                <div class="field">
                    <button type="button" class="ui disabled button" disabled id="conflink-send-dtmf">
                        <i class="keyboard icon"></i> {{ t._('module_conflink_SendDtmf') }}
                    </button>
                </div>
                <div class="field">
                    <button type="button" class="ui disabled button" disabled id="conflink-mute" data-action="mute">
                        <i class="microphone slash icon"></i> <span class="conflink-mute-label">{{ t._('module_conflink_Mute') }}</span>
                    </button>
                </div>
            </div>
            <div class="conflink-help">{{ t._('module_conflink_RoomControlsHelp') }}</div>
            <div class="ui hidden message" id="conflink-control-result"></div>
        </div>

        <h5 class="ui header">{{ t._('module_conflink_LogHeader') }}</h5>
        <table class="ui very compact small celled table" id="conflink-attempt-log">
            <thead>
            <tr>
                <th>{{ t._('module_conflink_LogTime') }}</th>
                <th>{{ t._('module_conflink_LogResult') }}</th>
                <th>{{ t._('module_conflink_LogCause') }}</th>
                <th>{{ t._('module_conflink_LogDuration') }}</th>
                <th>{{ t._('module_conflink_LogDtmf') }}</th>
            </tr>
            </thead>
            <tbody>
            <tr class="conflink-log-empty"><td colspan="5">{{ t._('module_conflink_LogEmpty') }}</td></tr>
            </tbody>
        </table>
    {% endif %}
</div>
