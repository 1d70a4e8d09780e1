/**
 * The demo business systems: what each one is called, which business scopes protect which page and API, and
 * the made-up business data their APIs answer with.
 */

export interface DemoSection {
  /** Page path of this business (the portal tile links here). */
  path: string;
  /** The business scope (`biz:<code>`) that a handler needs for this page and its API. */
  scope: string;
  /** Name of the business, shown to people. */
  title: string;
  /** Path of the protected API under /api. */
  apiPath: string;
  /** Only a real-name verified unit may use this business (requiresVerifiedUnit in clients.json). */
  requiresVerifiedUnit: boolean;
  /** Heading of the data table and its columns (API field → column title). */
  tableTitle: string;
  columns: [string, string][];
}

export interface DemoSystem {
  clientId: string;
  title: string;
  description: string;
  /** Accent colour of the pages, so the three systems are told apart at a glance. */
  accent: string;
  sections: DemoSection[];
}

export const DEMO_SYSTEMS: readonly DemoSystem[] = [
  {
    clientId: 'ce-demo',
    title: '继续教育',
    description: '专业技术人员继续教育学时登记与查询（演示）',
    accent: '#1565c0',
    sections: [
      {
        path: '/',
        scope: 'biz:continuing_education',
        title: '继续教育',
        apiPath: '/api/continuing-education/records',
        requiresVerifiedUnit: false,
        tableTitle: '本单位人员学时登记',
        columns: [
          ['person', '姓名'],
          ['course', '课程'],
          ['hours', '学时'],
          ['status', '状态'],
        ],
      },
    ],
  },
  {
    clientId: 'cse-demo',
    title: '公务员考录',
    description: '公务员招录职位申报与报名审核（演示）',
    accent: '#b71c1c',
    sections: [
      {
        path: '/',
        scope: 'biz:civil_service_exam',
        title: '公务员考录',
        apiPath: '/api/civil-service-exam/positions',
        requiresVerifiedUnit: false,
        tableTitle: '本单位招录职位',
        columns: [
          ['code', '职位代码'],
          ['position', '职位名称'],
          ['quota', '招录人数'],
          ['status', '状态'],
        ],
      },
    ],
  },
  {
    clientId: 'hall-demo',
    title: '网办平台',
    description: '政务服务事项网上办理（演示）',
    accent: '#2e7d32',
    sections: [
      {
        path: '/',
        scope: 'biz:online_service_hall',
        title: '网办平台',
        apiPath: '/api/online-service-hall/applications',
        requiresVerifiedUnit: false,
        tableTitle: '本单位办件',
        columns: [
          ['number', '办件编号'],
          ['matter', '事项'],
          ['submitted', '提交日期'],
          ['status', '状态'],
        ],
      },
      {
        path: '/social-insurance',
        scope: 'biz:social_insurance',
        title: '社会保险',
        apiPath: '/api/social-insurance/contributions',
        requiresVerifiedUnit: true,
        tableTitle: '本单位社会保险缴费',
        columns: [
          ['month', '费款所属期'],
          ['insured', '参保人数'],
          ['amount', '应缴金额（元）'],
          ['status', '状态'],
        ],
      },
    ],
  },
];

export function demoSystem(clientId: string): DemoSystem {
  const system = DEMO_SYSTEMS.find((entry) => entry.clientId === clientId);
  if (!system) throw new Error(`no demo system for client ${clientId}`);
  return system;
}

/** A small deterministic number from a string, so a unit always sees the same made-up data. */
function seed(text: string): number {
  let hash = 2166136261;
  for (const char of text) hash = Math.imul(hash ^ char.codePointAt(0)!, 16777619) >>> 0;
  return hash;
}

const NAMES = ['王芳', '刘洋', '陈静', '杨帆', '赵磊', '黄丽'];

/** The business records the API of a section answers with, for one unit. */
export function sampleRecords(section: DemoSection, unitId: string): Record<string, string | number>[] {
  const base = seed(`${section.scope}:${unitId}`);
  const pick = <T>(list: readonly T[], index: number): T => list[(base + index * 7) % list.length]!;
  return [0, 1, 2].map((index): Record<string, string | number> => {
    switch (section.scope) {
      case 'biz:continuing_education':
        return {
          person: pick(NAMES, index),
          course: pick(['公需科目：数字经济', '专业科目：安全生产', '专业科目：财务管理'], index),
          hours: 8 + ((base >>> index) % 5) * 4,
          status: pick(['已审核', '待审核'], index),
        };
      case 'biz:civil_service_exam':
        return {
          code: `3001${String((base + index) % 10000).padStart(4, '0')}`,
          position: pick(['综合管理', '财务审计', '信息技术'], index),
          quota: 1 + ((base >>> index) % 3),
          status: pick(['已发布', '审核中'], index),
        };
      case 'biz:online_service_hall':
        return {
          number: `BJ${2026000000 + ((base + index * 131) % 1000000)}`,
          matter: pick(['营业执照变更登记', '建设工程消防验收', '劳务派遣许可'], index),
          submitted: `2026-0${1 + index}-1${index}`,
          status: pick(['受理中', '已办结', '补正材料'], index),
        };
      default:
        return { month: `2026-0${3 - index}`, insured: 10 + (base % 40), amount: (10 + (base % 40)) * 1234, status: index === 0 ? '待缴费' : '已缴费' };
    }
  });
}
