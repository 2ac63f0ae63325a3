{# List of conference links; the Live state and Last error columns are refreshed by
   module-conference-link-index.js from statusAction while the page is visible. #}
<div id="conflink-index" data-base-url="{{ baseUrl }}">
    {{ link_to(baseUrl ~ '/modify', '<i class="add circle icon"></i> ' ~ t._('module_conflink_AddLink'), "class": "ui blue button", "id": "conflink-add") }}

    <div class="ui hidden warning message" id="conflink-worker-message"></div>

    {% if rows|length == 0 %}
        <div class="ui placeholder segment" id="conflink-empty">
            <div class="ui icon header">
                <i class="phone volume icon"></i>
                {{ t._('module_conflink_EmptyList') }}
            </div>
        </div>
    {% else %}
        <table class="ui selectable compact unstackable table" id="conflink-table">
            <thead>
            <tr>
                <th>{{ t._('module_conflink_ColRoom') }}</th>
                <th>{{ t._('module_conflink_ColProvider') }}</th>
                <th>{{ t._('module_conflink_ColNumber') }}</th>
                <th class="center aligned">{{ t._('module_conflink_ColEnabled') }}</th>
                <th>{{ t._('module_conflink_ColState') }}</th>
                <th>{{ t._('module_conflink_ColLastError') }}</th>
                <th></th>
            </tr>
            </thead>
            <tbody>
            {% for row in rows %}
                <tr class="conflink-row{% if not row['enabled'] %} disabled{% endif %}" data-id="{{ row['id']|e }}">
                    <td>
                        {{ row['room_label']|e }}
                        {% if row['room_missing'] %}<i class="red exclamation triangle icon" title="{{ t._('module_conflink_error_room_unknown')|e }}"></i>{% endif %}
                        {% if row['description'] != '' %}<div class="conflink-note">{{ row['description']|e }}</div>{% endif %}
                    </td>
                    <td>
                        {% if row['routes'] %}<span class="conflink-via-routes">{{ t._('module_conflink_dial_via_routes') }}</span>{% endif %}
                        {{ row['provider_label']|e }}
                        {% if row['provider_missing'] %}<i class="red exclamation triangle icon" title="{{ t._('module_conflink_error_provider_unknown')|e }}"></i>{% endif %}
                    </td>
                    <td>{{ row['number']|e }}</td>
                    <td class="center aligned">
                        {% if row['enabled'] %}<i class="green check icon" title="{{ t._('module_conflink_Yes') }}"></i>{% else %}<i class="grey minus icon" title="{{ t._('module_conflink_No') }}"></i>{% endif %}
                    </td>
                    <td class="conflink-state"><span class="ui small label" data-state="{{ row['state']|e }}">{{ t._('module_conflink_state_' ~ row['state']) }}</span></td>
                    <td class="conflink-last-error">{{ row['live_error']|e }}</td>
                    <td class="right aligned collapsing">
                        <div class="ui tiny basic icon buttons action-buttons">
                            <a href="{{ url(baseUrl ~ '/modify/' ~ row['id']) }}" class="ui button edit popuped" data-content="{{ t._('module_conflink_Edit')|e }}"><i class="icon edit blue"></i></a>
                            <a href="{{ url(baseUrl ~ '/delete/' ~ row['id']) }}" class="ui button delete two-steps-delete popuped" data-id="{{ row['id']|e }}" data-content="{{ t._('module_conflink_Delete')|e }}"><i class="icon trash red"></i></a>
                        </div>
                    </td>
                </tr>
            {% endfor %}
            </tbody>
        </table>
    {% endif %}
</div>
