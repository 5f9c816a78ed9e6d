// Vietnamese first; English on the switch. Keys are used by data-i18n attributes and t().
const DICT = {
  vi: {
    title: "Trung tâm điều hành – Chuyển đổi số", logout: "Đăng xuất", login_title: "Đăng nhập",
    username: "Tên đăng nhập", password: "Mật khẩu", login: "Đăng nhập",
    login_failed: "Sai tên đăng nhập hoặc mật khẩu", retry_in: "thử lại sau", minutes: "phút",
    live_online: "Trực tuyến", live_offline: "Mất kết nối", live_connecting: "Đang kết nối…",
    districts: "Các huyện", rank: "Hạng", unit: "Đơn vị", value: "Giá trị", expected: "Kế hoạch",
    status: "Trạng thái", chart: "Diễn biến theo thời gian", alerts: "Cảnh báo",
    show_resolved: "Hiện đã đóng", severity: "Mức", summary: "Nội dung", state: "Trạng thái",
    actions: "Thao tác", no_alerts: "Không có cảnh báo", ticker: "Dữ liệu mới",
    freshness: "Độ mới dữ liệu theo huyện", last_received: "Nhận gần nhất",
    overdue: "Quá hạn / tổng", acknowledge: "Xác nhận", silence: "Tạm im 4 giờ",
    resolve: "Đóng", period: "Kỳ", target: "Chỉ tiêu",
    on_track: "Đạt", warning: "Chậm", critical: "Nghiêm trọng", no_target: "Chưa có chỉ tiêu",
    no_data: "Chưa có dữ liệu", unknown: "Không rõ",
    firing: "Đang cảnh báo", acknowledged: "Đã xác nhận", resolved: "Đã khắc phục",
    unavailable: "Dịch vụ không phản hồi: ", province_row: "Toàn tỉnh",
    ack_note: "Đã tiếp nhận từ bảng điều khiển", silenced: "Đã tạm im thông báo",
    role_viewer: "Người xem", role_operator: "Cán bộ vận hành", role_admin: "Quản trị viên",
    silenced_until: "Đã tạm im thông báo đến", history: "Lịch sử", demo: "minh hoạ",
    change_opened: "Mở cảnh báo", change_escalated: "Tăng mức", change_deescalated: "Giảm mức",
    change_acknowledged: "Đã xác nhận", change_silenced: "Tạm im thông báo", change_resolved: "Đóng",
    change_period: "Đánh giá kỳ", system: "hệ thống",
    family_bts: "Trạm BTS", family_public_service: "Hồ sơ dịch vụ công",
    family_cashless: "Thanh toán không dùng tiền mặt", family_observation: "Số liệu báo cáo",
    up: "tăng", down: "giảm", flat: "không đổi",
    report: "Báo cáo", report_month: "Tháng", report_quarter: "Quý", report_xlsx: "Excel",
    report_csv: "CSV", report_print: "Bản in",
    map: "Bản đồ", map_schematic: "sơ đồ ô – chưa nạp ranh giới (ioc geo import)",
    map_missing: "đơn vị chưa có ranh giới", wall_next: "Chỉ tiêu tiếp theo sau", seconds: "giây",
  },
  en: {
    title: "Operations Center – Digital Transformation", logout: "Log out", login_title: "Log in",
    username: "Username", password: "Password", login: "Log in",
    login_failed: "Wrong username or password", retry_in: "try again in", minutes: "min",
    live_online: "Live", live_offline: "Disconnected", live_connecting: "Connecting…",
    districts: "Districts", rank: "Rank", unit: "Unit", value: "Value", expected: "Target",
    status: "Status", chart: "Over time", alerts: "Alerts",
    show_resolved: "Show resolved", severity: "Severity", summary: "Summary", state: "State",
    actions: "Actions", no_alerts: "No alerts", ticker: "Incoming data",
    freshness: "Data freshness by district", last_received: "Last received",
    overdue: "Overdue / total", acknowledge: "Acknowledge", silence: "Silence 4 h",
    resolve: "Resolve", period: "Period", target: "Target",
    on_track: "On track", warning: "Lagging", critical: "Critical", no_target: "No target",
    no_data: "No data", unknown: "Unknown",
    firing: "Firing", acknowledged: "Acknowledged", resolved: "Resolved",
    unavailable: "Service unavailable: ", province_row: "Whole province",
    ack_note: "Acknowledged from the dashboard", silenced: "Notifications silenced",
    role_viewer: "Viewer", role_operator: "Operator", role_admin: "Administrator",
    silenced_until: "Notifications silenced until", history: "History", demo: "demo",
    change_opened: "Opened", change_escalated: "Escalated", change_deescalated: "De-escalated",
    change_acknowledged: "Acknowledged", change_silenced: "Silenced", change_resolved: "Resolved",
    change_period: "Period judged", system: "system",
    family_bts: "BTS sites", family_public_service: "Public-service dossiers",
    family_cashless: "Cashless payments", family_observation: "Reported figures",
    up: "up", down: "down", flat: "flat",
    report: "Report", report_month: "Month", report_quarter: "Quarter", report_xlsx: "Excel",
    report_csv: "CSV", report_print: "Print view",
    map: "Map", map_schematic: "schematic tiles – no boundaries imported (ioc geo import)",
    map_missing: "units without a boundary", wall_next: "Next indicator in", seconds: "s",
  },
};

let lang = localStorage.getItem("ioc.lang") === "en" ? "en" : "vi";

export function getLang() { return lang; }

export function setLang(next) {
  lang = next === "en" ? "en" : "vi";
  localStorage.setItem("ioc.lang", lang);
  document.documentElement.lang = lang;
  applyI18n();
}

export function t(key) { return DICT[lang][key] ?? DICT.vi[key] ?? key; }

/** The Vietnamese or English field of an object: name_vi / name_en, summary_vi / summary_en. */
export function pick(obj, field) { return obj[`${field}_${lang}`] ?? obj[`${field}_vi`] ?? ""; }

export function applyI18n(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.title = `IOC – ${t("title")}`;
}
