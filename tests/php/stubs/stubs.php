<?php

/*
 * Stand-ins for MikoPBX core / Phalcon classes used by the module's Phalcon-facing classes.
 * Tests only; never shipped. Each keeps the real signature of what the module calls.
 */

declare(strict_types=1);

namespace Phalcon\Mvc\Model {
    class Relation
    {
        public const ACTION_CASCADE = 2;
        public const ACTION_RESTRICT = 1;
        public const NO_ACTION = 0;
    }
}

namespace MikoPBX\Modules\Models {
    /**
     * In-memory "table" per model class: StubStore::$rows[Class] = list of rows.
     */
    class ModulesModelsBase
    {
        /** @var array<class-string, list<array<string, mixed>>> */
        public static array $rows = [];

        /** @var list<array{0: string, 1: string, 2: string, 3: array}> relations added via hasMany() */
        public array $stubRelations = [];

        public function initialize(): void
        {
        }

        public function setSource(string $source): void
        {
        }

        /** @param list<string> $attributes */
        protected function allowEmptyStringValues(array $attributes): void
        {
        }

        public static function find($parameters = null): \MikoPBX\Modules\Models\StubResultset
        {
            return new StubResultset(self::$rows[static::class] ?? []);
        }

        /**
         * The first row, or with ['bind' => [column => value]] the first row whose columns
         * equal those values (as strings): enough for "id = :id:" look-ups.
         */
        public static function findFirst($parameters = null): ?static
        {
            $rows = self::$rows[static::class] ?? [];
            if (is_array($parameters) && is_array($parameters['bind'] ?? null)) {
                $rows = array_values(array_filter($rows, static function (array $row) use ($parameters): bool {
                    foreach ($parameters['bind'] as $column => $value) {
                        if ((string)($row[$column] ?? '') !== (string)$value) {
                            return false;
                        }
                    }
                    return true;
                }));
            }
            if ($rows === []) {
                return null;
            }
            $obj = new static();
            foreach ($rows[0] as $k => $v) {
                $obj->$k = $v;
            }
            return $obj;
        }

        public function save(): bool
        {
            $row = get_object_vars($this);
            unset($row['stubRelations']);
            self::$rows[static::class] = [$row];
            return true;
        }

        public function getMessages(): array
        {
            return [];
        }

        public function hasMany($fields, string $referenceModel, $referencedFields, array $options = []): void
        {
            $this->stubRelations[] = [$fields, $referenceModel, $referencedFields, $options];
        }
    }

    class StubResultset
    {
        public function __construct(private array $rows)
        {
        }

        public function toArray(): array
        {
            return $this->rows;
        }
    }
}

namespace MikoPBX\Common\Models {
    use MikoPBX\Modules\Models\ModulesModelsBase;

    class ConferenceRooms extends ModulesModelsBase
    {
    }

    class Providers extends ModulesModelsBase
    {
    }

    class Sip extends ModulesModelsBase
    {
    }

    class PbxSettings extends ModulesModelsBase
    {
        public const AMI_PORT = 'AMIPort';

        /** @var array<string, string> */
        public static array $values = ['AMIPort' => '5038'];

        public static function getValueByKey(string $key, bool $useCache = true): string
        {
            return self::$values[$key] ?? '';
        }
    }
}

namespace MikoPBX\PBXCoreREST\Controllers {
    /** Core's REST v3 base controller (routing by attributes); its behaviour is proven in the rig. */
    abstract class BaseRestController
    {
        protected string $processorClass = '';
    }
}

namespace MikoPBX\PBXCoreREST\Lib\Common {
    interface OpenApiSchemaProvider
    {
        public static function getListItemSchema(): array;

        public static function getDetailSchema(): array;

        public static function getRelatedSchemas(): array;
    }
}

namespace MikoPBX\PBXCoreREST\Lib {
    class PBXApiResult
    {
        public bool $success = false;
        public array $data = [];
        public array $messages = [];
        public string $processor = '';
        public string $function = '';
        public ?int $httpCode = null;
        public ?array $pagination = null;
        public string $reload = '';
    }
}

namespace MikoPBX\Modules\Config {
    class ConfigClass
    {
        public string $moduleUniqueId = '';
        protected string $moduleDir = '';

        public function __construct()
        {
            $this->moduleUniqueId = 'ModuleConferenceLink';
            $this->moduleDir      = \MikoPBX\Modules\PbxExtensionUtils::getModuleDir('ModuleConferenceLink');
        }
    }
}

namespace MikoPBX\Modules {
    class PbxExtensionUtils
    {
        public static string $modulesDir = '/nonexistent';
        public static bool $enabled = true;

        public static function getModuleDir(string $moduleUniqueID): string
        {
            return self::$modulesDir . '/' . $moduleUniqueID;
        }

        public static function isEnabled(string $moduleUniqueID): bool
        {
            return self::$enabled;
        }
    }
}

namespace MikoPBX\Core\System {
    class System
    {
        public static string $logDir = '/nonexistent-logs';

        public static function getLogDir(): string
        {
            return self::$logDir;
        }
    }

    class SystemMessages
    {
        /** @var list<array{string, string, int}> */
        public static array $log = [];

        public static function sysLogMsg(string $ident, string $message, int $level = LOG_WARNING): void
        {
            self::$log[] = [$ident, $message, $level];
        }
    }

    class Processes
    {
        /** @var list<array{string, string, string}> */
        public static array $calls = [];

        public static function processPHPWorker(string $className, string $paramForPHPWorker = 'start', string $action = 'restart'): void
        {
            self::$calls[] = [$className, $paramForPHPWorker, $action];
        }
    }
}

namespace MikoPBX\Core\Workers\Cron {
    class WorkerSafeScriptsCore
    {
        public const CHECK_BY_BEANSTALK = 'checkWorkerBeanstalk';
        public const CHECK_BY_AMI = 'checkWorkerAMI';
        public const CHECK_BY_PID_NOT_ALERT = 'checkPidNotAlert';
        public const CHECK_BY_REDIS = 'checkWorkerRedis';
    }
}

namespace MikoPBX\Core\Workers {
    class WorkerModelsEvents
    {
        /** @var list<string> */
        public static array $invoked = [];

        public static function invokeAction(string $action, array $parameters = [], int $priority = 0): void
        {
            self::$invoked[] = $action;
        }
    }
}

namespace MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions {
    class ReloadManagerAction
    {
    }

    class ReloadDialplanAction
    {
    }
}
