# MSRVTT-QA (official UMT annotation files, anno_downstream/msrvtt_qa_{train,test}.json + msrvtt_qa_answer_list.json):
# [{"video", "question", "answer", "question_id"}] and a JSON list of answer strings; questions whose answer is not
# in the list are counted (QAAccuracy.not_in_answer_list) and scored wrong, as the reference does.
_base_ = ['./qa_data.py']
data_root = 'data/msrvtt/videos'
ann_root = 'data/anno_downstream'
train_ann = f'{ann_root}/msrvtt_qa_train.json'
test_ann = f'{ann_root}/msrvtt_qa_test.json'
answer_list = f'{ann_root}/msrvtt_qa_answer_list.json'
train_dataloader = dict(
    dataset=dict(ann_file=train_ann, answer_list=answer_list, data_prefix=dict(video=data_root)))
val_dataloader = dict(
    dataset=dict(ann_file=test_ann, answer_list=answer_list, data_prefix=dict(video=data_root)))
test_dataloader = val_dataloader
