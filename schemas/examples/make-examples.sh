#!/bin/sh
# Regenerates the example envelopes in this directory with `lienthong doc new`.
# Usage: make-examples.sh LIENTHONG_BINARY OUTPUT_DIR
# tests/envelope.rs runs this script and checks the output is byte-identical to the committed
# files, so the examples are exactly what lienthong writes.
set -eu
bin=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)

"$bin" doc new --from HU.CHAUTHANH --to TU.BENTRE --code 07 --notation NQ/ĐUK \
  --level thuong --public --procedure VB-01 --date 2017/03/21 \
  --subject "Nghị quyết về đẩy mạnh ứng dụng công nghệ thông tin trong hoạt động của các cơ quan Đảng giai đoạn 2017 - 2020" \
  --content "Đảng ủy khối thống nhất: triển khai phần mềm quản lý văn bản và điều hành; tiếp nhận, chuyển phát thông tin, báo cáo qua mạng; bảo đảm an toàn, bí mật và kịp thời trong gửi, nhận văn bản điện tử." \
  --signer-competence "TM. BAN THƯỜNG VỤ" --signer-position "Bí thư" --signer-name "Nguyễn Văn An" \
  -o "$out/nghi-quyet-07-NQ-DUK.xml"

"$bin" doc new --from HU.CHAUTHANH --to VPTW --code 15 --notation TB/HU \
  --level thuong --procedure VB-03 --priority 3 --date 2024/06/12 \
  --subject "Thông báo hỏa tốc về việc báo cáo nhanh tình hình thiệt hại do mưa lớn, sạt lở bờ sông trên địa bàn huyện" \
  --content "Văn phòng Huyện ủy Châu Thành kính gửi Văn phòng Trung ương Đảng báo cáo nhanh: mưa lớn kéo dài từ ngày 10/6 gây sạt lở 120 m bờ sông Hàm Luông; không có thiệt hại về người. Số liệu chi tiết gửi kèm trước 17 giờ ngày 12/6." \
  --signer-competence "TL. BAN THƯỜNG VỤ" --signer-position "Chánh Văn phòng" --signer-name "Trần Thị Bích" \
  -o "$out/thong-bao-hoa-toc.xml"

"$bin" doc new --from HU.CHAUTHANH --to TU.BENTRE --code 42 --notation BC/HU \
  --level mat --procedure TCCB-05 --priority 1 --date 2024/09/05 \
  --subject "Báo cáo kết quả rà soát, bổ sung quy hoạch cán bộ nhiệm kỳ 2025 - 2030" \
  --content "Thực hiện Hướng dẫn của Ban Tổ chức Tỉnh ủy, Ban Thường vụ Huyện ủy báo cáo kết quả rà soát, bổ sung quy hoạch cán bộ (danh sách kèm theo)." \
  --attach "$here/attachments/danh-sach-quy-hoach.txt" \
  --signer-competence "TM. BAN THƯỜNG VỤ" --signer-position "Phó Bí thư Thường trực" --signer-name "Võ Minh Đức" \
  -o "$out/bao-cao-mat.xml"
